using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Security;

namespace RoomHub.Tests.Security;

/// <summary>The guard between the hub and one connection's outbound pipe, with the pipe read (or not) by the test.</summary>
public sealed class SlowConsumerGuardTests : IDisposable
{
    private const int Limit = 1000;
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: Limit, resumeWriterThreshold: Limit / 2, useSynchronizationContext: false));
    private readonly DefaultConnectionContext _connection;
    private readonly PipeWriter _writer;
    private readonly IOutboundQueueFeature _queue;

    public SlowConsumerGuardTests()
    {
        var telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
        var guard = new SlowConsumerGuard(Options.Create(new RoomHubSecurityOptions { MaxOutboundBufferBytes = Limit, SlowConsumerTimeout = Stall }), telemetry, _time, NullLogger<SlowConsumerGuard>.Instance);
        _connection = new DefaultConnectionContext("c1", new DuplexPipe(new Pipe().Reader, _pipe.Writer), new DuplexPipe(_pipe.Reader, new Pipe().Writer));
        guard.Attach(_connection);
        _writer = _connection.Transport.Output;
        _queue = _connection.Features.Get<IOutboundQueueFeature>()!;
    }

    private ValueTask<FlushResult> WriteAsync(int bytes) => _writer.WriteAsync(new byte[bytes]);

    /// <summary>A dropped connection's writes report it gone at once; an empty write changes nothing else.</summary>
    private async Task<bool> DroppedAsync() => (await WriteAsync(0)).IsCompleted;

    private async Task<long> ReadAllAsync()
    {
        var read = await _pipe.Reader.ReadAsync();
        var length = read.Buffer.Length;
        _pipe.Reader.AdvanceTo(read.Buffer.End);
        return length;
    }

    [Fact]
    public async Task AWriteLargerThanTheWholeQueueIsAcceptedAtOnceAndTheQueueIsFullUntilItIsRead()
    {
        var flush = WriteAsync(5 * Limit);

        Assert.True(flush.IsCompletedSuccessfully);
        Assert.False((await flush).IsCompleted);
        var room = _queue.WaitForRoomAsync();
        Assert.False(room.IsCompleted);

        Assert.Equal(5 * Limit, await ReadAllAsync());
        await room.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(_queue.WaitForRoomAsync().IsCompleted);
        Assert.False(await DroppedAsync());
    }

    [Fact]
    public async Task WhileFullAnotherQueueOfWritesIsAcceptedAndOneByteMoreDropsTheConnection()
    {
        await WriteAsync(Limit);
        for (var i = 0; i < 10; i++)
        {
            Assert.False((await WriteAsync(Limit / 10)).IsCompleted);
        }

        Assert.True((await WriteAsync(1)).IsCompleted);
        Assert.True((await WriteAsync(1)).IsCompleted);
        await Infrastructure.Poll.UntilAsync(() => _connection.ConnectionClosed.IsCancellationRequested, "the connection to be aborted");
    }

    [Fact]
    public async Task BehindAWriteLargerThanTheQueueAsMuchAgainIsAccepted()
    {
        await WriteAsync(3 * Limit);

        Assert.False((await WriteAsync(3 * Limit)).IsCompleted);
        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    /// <summary>Writes an answer as the hub protocols do: marked as one.</summary>
    private ValueTask<FlushResult> WriteAnswerAsync(int bytes)
    {
        ((IAnswerWriter)_writer).WritingAnswer();
        return WriteAsync(bytes);
    }

    [Fact]
    public async Task AnAnnouncedAnswerLandingOnAFullQueueDoesNotCountAgainstIt()
    {
        await WriteAsync(Limit);
        _queue.ExpectAnswer(5 * Limit);

        Assert.False((await WriteAnswerAsync(5 * Limit)).IsCompleted);
        Assert.False((await WriteAsync(Limit)).IsCompleted);
        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    [Fact]
    public async Task AnAnnouncementPaysForItsAnswerOnlyNotForTheWritesAroundIt()
    {
        await WriteAsync(Limit);
        _queue.ExpectAnswer(2 * Limit);

        // A delivery landing on the full queue before the answer counts, as any would; then the answer is paid for.
        Assert.False((await WriteAsync(Limit)).IsCompleted);
        Assert.False((await WriteAnswerAsync(2 * Limit)).IsCompleted);
        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    [Fact]
    public async Task WhatAnswersLeaveOfTheirAnnouncementsBuysNoRoomForLaterWrites()
    {
        // Each answer is announced larger than it turns out (an upper bound), and the client reads it.
        for (var i = 0; i < 50; i++)
        {
            _queue.ExpectAnswer(Limit);
            await WriteAnswerAsync(Limit / 2);
            Assert.Equal(Limit / 2, await ReadAllAsync());
        }

        // Then it stops reading: behind a full queue, another queue's worth is accepted, and no more.
        await WriteAsync(Limit);
        for (var i = 0; i < 10; i++)
        {
            Assert.False((await WriteAsync(Limit / 10)).IsCompleted);
        }

        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    [Fact]
    public async Task AnEmptyAnswerAnnouncedAsNothingDoesNotTakeALargerAnswersAnnouncement()
    {
        await WriteAsync(Limit);
        _queue.ExpectAnswer(0);
        _queue.ExpectAnswer(3 * Limit);

        // The empty answer's own bytes (its envelope) are more than the 0 announced for it.
        Assert.False((await WriteAnswerAsync(60)).IsCompleted);
        Assert.False((await WriteAnswerAsync(3 * Limit)).IsCompleted);
        Assert.False((await WriteAsync(Limit - 100)).IsCompleted);
    }

    [Fact]
    public async Task AnswersWrittenInAnotherOrderThanAnnouncedAreEachPaidFor()
    {
        await WriteAsync(Limit);
        _queue.ExpectAnswer(Limit);
        _queue.ExpectAnswer(3 * Limit);

        Assert.False((await WriteAnswerAsync(3 * Limit)).IsCompleted);
        Assert.False((await WriteAnswerAsync(Limit)).IsCompleted);
        Assert.False((await WriteAsync(Limit)).IsCompleted);
        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    [Fact]
    public async Task AWriteRightAfterTheClientEmptiedItsQueueIsNotCountedAgainstTheSpell()
    {
        await WriteAsync(Limit);
        await WriteAsync(9 * Limit / 10);
        await ReadAllAsync();

        Assert.False((await WriteAsync(Limit / 5)).IsCompleted);
    }

    [Fact]
    public async Task AClientThatReadsBetweenFullSpellsIsNeverDropped()
    {
        for (var i = 0; i < 20; i++)
        {
            await WriteAsync(3 * Limit);
            await WriteAsync(Limit);
            await ReadAllAsync();
            await _queue.WaitForRoomAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.False(await DroppedAsync());
    }

    [Fact]
    public async Task TheEndOfTheClientEndsAFullSpell()
    {
        await WriteAsync(2 * Limit);
        var room = _queue.WaitForRoomAsync();

        await _pipe.Reader.CompleteAsync();

        await room.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True((await WriteAsync(1)).IsCompleted);
    }

    [Fact]
    public async Task AQueueThatStaysFullForTheTimeoutDropsItsClientWithoutAnotherWrite()
    {
        await WriteAsync(2 * Limit);
        var room = _queue.WaitForRoomAsync();

        _time.Advance(Stall - TimeSpan.FromSeconds(1));
        Assert.False(await DroppedAsync());
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(await DroppedAsync());
        await Infrastructure.Poll.UntilAsync(() => _connection.ConnectionClosed.IsCancellationRequested, "the connection to be aborted");
        await _pipe.Reader.CompleteAsync(); // The transport ends under the aborted connection.
        await room.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task EachFullSpellHasItsOwnTimeout()
    {
        for (var i = 0; i < 3; i++)
        {
            await WriteAsync(2 * Limit);
            _time.Advance(Stall - TimeSpan.FromSeconds(1));
            await ReadAllAsync();
            await _queue.WaitForRoomAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _time.Advance(Stall);
        Assert.False(_connection.ConnectionClosed.IsCancellationRequested);
        Assert.False(await DroppedAsync());
    }

    public void Dispose() => _services.Dispose();
}
