using RoomHub.Server.Internal;

namespace RoomHub.Tests;

public sealed class StripedCounterTests
{
    [Fact]
    public async Task AddsFromManyThreadsAtOnceAreAllCounted()
    {
        var counter = new StripedCounter();
        using var start = new Barrier(8);
        var adders = Enumerable.Range(1, 8).Select(n => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 100_000; i++)
            {
                counter.Add(n);
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        await Task.WhenAll(adders);

        Assert.Equal(100_000L * Enumerable.Range(1, 8).Sum(), counter.Read());
    }

    [Fact]
    public void StartsAtZeroAndCountsWhatIsAdded()
    {
        var counter = new StripedCounter();
        Assert.Equal(0, counter.Read());

        counter.Add(3);
        counter.Add(1);

        Assert.Equal(4, counter.Read());
    }
}
