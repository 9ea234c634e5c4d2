using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

/// <summary>
/// Legacy frames wait in their connection's output for the flush round of the thread that wrote them, so that one
/// message delivered to many members, or several delivered together, leave each connection in one send. The tests hold
/// the rounds of the thread they run on (each is synchronous, start to end on one thread) and run them when they choose.
/// </summary>
public sealed class FlushRoundTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly RoomHubTelemetry _telemetry;
    private readonly List<FlushRound> _held = [];

    public FlushRoundTests()
    {
        _telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
    }

    public void Dispose() => _services.Dispose();

    [Fact]
    public void FramesToSeveralConnectionsLeaveTogetherWhenTheThreadsRoundRuns() => Held(() =>
    {
        var connections = Enumerable.Range(0, 3).Select(_ => Connect()).ToArray();
        for (var i = 0; i < 5; i++)
        {
            foreach (var (writer, _) in connections)
            {
                Assert.True(writer.WriteAsync(Records($"m{i}")).IsCompleted);
            }
        }

        Assert.All(connections, c => Assert.Empty(Unread(c.Output)));
        var round = Assert.Single(_held);

        round.Execute();
        foreach (var (_, output) in connections)
        {
            Assert.Equal(["m0", "m1", "m2", "m3", "m4"], Frames(Unread(output)));
        }
    });

    [Fact]
    public void ARoundThatRanTakesNoMoreWritersAndAWriteAfterItStartsTheNext() => Held(() =>
    {
        var (writer, output) = Connect();
        writer.WriteAsync(Records("first"));
        _held[0].Execute();
        _held[0].Execute(); // Once only: nothing is flushed twice, nothing breaks.
        Assert.Equal(["first"], Frames(Take(output)));

        writer.WriteAsync(Records("second"));
        Assert.Equal(2, _held.Count);
        Assert.Empty(Unread(output));
        _held[1].Execute();
        Assert.Equal(["second"], Frames(Take(output)));
    });

    [Fact]
    public void AThreadThatKeepsWritingFlushesItsRoundItself() => Held(() =>
    {
        var (writer, output) = Connect();
        for (var i = 0; i < FlushRound.MaxWrites - 1; i++)
        {
            writer.WriteAsync(Records("x"));
        }

        Assert.Empty(Unread(output));
        writer.WriteAsync(Records("x"));
        Assert.Equal(FlushRound.MaxWrites, Frames(Take(output)).Count);
        _held[0].Execute(); // The queued work item, run after the thread flushed its round: nothing more to send.
        Assert.Empty(Unread(output));
    });

    [Fact]
    public void AConnectionWithALotUnflushedIsFlushedAtOnce() => Held(() =>
    {
        var (writer, output) = Connect();
        var large = new string('l', 40_000);
        writer.WriteAsync(Records(large));
        Assert.Empty(Unread(output));
        writer.WriteAsync(Records(large));
        Assert.Equal([large, large], Frames(Take(output)));
    });

    [Fact]
    public void NothingIsFlushedAfterTheSessionEnded() => Held(() =>
    {
        var (writer, output) = Connect();
        writer.WriteAsync(Records("late"));
        writer.End();
        _held[0].Execute();
        Assert.Empty(Unread(output));
    });

    [Fact]
    public void AFrameOfTheWebSocketsOwnLeavesAfterTheFramesWrittenBeforeItAndTakesThemAlong() => Held(() =>
    {
        var (writer, output) = Connect();
        writer.WriteAsync(Records("a"));
        writer.WriteAsync(Records("b"));
        Assert.Empty(Unread(output));

        writer.WriteControl([0x89, 0x00]); // A ping, flushed at once: the frames before it go first, in the same read.
        var bytes = Take(output);
        Assert.Equal([0x89, 0x00], bytes[^2..]);
        Assert.Equal(["a", "b"], Frames(bytes[..^2]));

        writer.WriteAsync(Records("c"));
        Assert.Empty(Unread(output));
        _held[0].Execute();
        Assert.Equal(["c"], Frames(Take(output)));
    });

    [Fact]
    public void ARoundThatComesUpWhileOtherWorkWaitsGoesBehindItOnceAndTakesWhatThatWorkWrites() => Held(() =>
    {
        var (first, firstOutput) = Connect();
        var (second, secondOutput) = Connect();
        first.WriteAsync(Records("a"));
        var round = Assert.Single(_held);

        round.Execute(); // Other work waits: the round goes behind it, unflushed.
        Assert.Equal([round, round], _held);
        Assert.Empty(Unread(firstOutput));

        first.WriteAsync(Records("b"));
        second.WriteAsync(Records("c"));
        Assert.Equal(2, _held.Count); // Both joined the round that waits; no other was started.

        round.Execute(); // Still busy, but a round goes behind other work once only.
        Assert.Equal(["a", "b"], Frames(Take(firstOutput)));
        Assert.Equal(["c"], Frames(Take(secondOutput)));
    }, busy: () => true);

    [Fact]
    public void ARoundThatComesUpWhileTheInstanceIsBehindStaysOpenOnceAndTakesTheNextWrites() => Held(() =>
    {
        var (first, firstOutput) = Opened();
        var (second, secondOutput) = Opened();
        first.WriteAsync(Records("a"));
        var round = Assert.Single(_held);

        round.Execute(); // The instance is behind: the round stays open, unflushed.
        Assert.Equal([round, round], _held);
        Assert.Empty(Unread(firstOutput));

        first.WriteAsync(Records("b"));
        second.WriteAsync(Records("c"));
        Assert.Equal(2, _held.Count); // Both joined the open round; no other was started.

        round.Execute(); // Still behind, but a round is held open once only.
        Assert.Equal(["a", "b"], Frames(Take(firstOutput)));
        Assert.Equal(["c"], Frames(Take(secondOutput)));
    }, behind: () => true);

    [Fact]
    public void ARoundGoesBehindWaitingWorkAndIsThenHeldOpenWhileTheInstanceIsBehind() => Held(() =>
    {
        var (writer, output) = Opened();
        writer.WriteAsync(Records("a"));
        var round = Assert.Single(_held);

        round.Execute(); // Behind the waiting work.
        round.Execute(); // Held open.
        writer.WriteAsync(Records("b"));
        Assert.Equal([round, round, round], _held);
        Assert.Empty(Unread(output));

        round.Execute();
        Assert.Equal(["a", "b"], Frames(Take(output)));
    }, busy: () => true, behind: () => true);

    [Fact]
    public void ARoundHeldOpenCanStillGoBehindWorkThatWaitsWhenItRunsAgain()
    {
        var busy = false;
        Held(() =>
        {
            var (writer, output) = Opened();
            writer.WriteAsync(Records("a"));
            var round = Assert.Single(_held);

            round.Execute(); // Nothing waits, but the instance is behind: held open.
            busy = true;
            round.Execute(); // Work waits now: behind it, once.
            writer.WriteAsync(Records("b"));
            Assert.Equal([round, round, round], _held);
            Assert.Empty(Unread(output));

            round.Execute();
            Assert.Equal(["a", "b"], Frames(Take(output)));
        }, busy: () => busy, behind: () => true);
    }

    [Fact]
    public void ARoundWithAConnectionsFirstOutputIsNotHeldWhileTheInstanceIsBehind() => Held(() =>
    {
        var (opened, openedOutput) = Opened();
        var (fresh, freshOutput) = Connect();
        opened.WriteAsync(Records("a"));
        fresh.WriteAsync(Records("first")); // What a SignalR client's handshake answer is: nothing flushed before it.
        Assert.Single(_held).Execute();
        Assert.Equal(["a"], Frames(Take(openedOutput)));
        Assert.Equal(["first"], Frames(Take(freshOutput)));
    }, behind: () => true);

    [Fact]
    public void ARoundIsNotHeldWhileTheInstanceIsNotBehind() => Held(() =>
    {
        var (writer, output) = Opened();
        writer.WriteAsync(Records("a"));
        _held[0].Execute();
        Assert.Equal(["a"], Frames(Take(output)));
    }, behind: () => false);

    [Fact]
    public void TheInstanceIsBehindOnlyWhileManyRecentRoundsCameUpLate()
    {
        var share = default(LateRounds.Share);
        var now = 1L;
        long Next() => now += Stopwatch.Frequency / 1000; // A round every millisecond.

        for (var i = 0; i < 200; i++)
        {
            Assert.False(share.Add(late: i % 50 == 0, Next())); // One in fifty (a collection, a burst): not behind.
        }

        var rounds = 0;
        while (!share.Add(late: rounds % 3 == 0, Next())) // One in three.
        {
            Assert.True(++rounds < 100, "one round in three came up late, and the instance was never behind");
        }

        for (var i = 0; i < 100; i++)
        {
            Assert.True(share.Add(late: i % 10 == 0, Next())); // Fewer late rounds while rounds are held: still behind.
        }

        rounds = 0;
        while (share.Add(late: false, Next()))
        {
            Assert.True(++rounds < 200, "no round came up late, and the instance stayed behind");
        }
    }

    [Fact]
    public void AShareWithNoRoundsForAWhileStartsAgainFromNoneLate()
    {
        var share = default(LateRounds.Share);
        var now = 1L;
        while (!share.Add(late: true, now += Stopwatch.Frequency / 1000))
        {
        }

        now += (long)(LateRounds.Share.Forget.TotalSeconds * Stopwatch.Frequency) + Stopwatch.Frequency / 1000;
        Assert.False(share.Add(late: true, now));
        Assert.Equal(LateRounds.Share.Weight, share.Value, 6);
    }

    /// <summary>
    /// Runs <paramref name="test"/> holding this thread's rounds in <see cref="_held"/> (<paramref name="busy"/>: whether
    /// other work waits when one runs; <paramref name="behind"/>: whether the instance is behind).
    /// </summary>
    private void Held(Action test, Func<bool>? busy = null, Func<bool>? behind = null)
    {
        FlushRound.HoldOnThisThread(_held, busy, behind);
        try
        {
            test();
        }
        finally
        {
            FlushRound.HoldOnThisThread(null);
        }
    }

    /// <summary>A legacy connection's writer past its handshake answer, over an output the test reads.</summary>
    private (WebSocketFrameWriter Writer, Pipe Output) Connect()
    {
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false));
        var writer = new WebSocketFrameWriter(output.Writer, _telemetry, new PipeOptions(useSynchronizationContext: false));
        Assert.True(writer.WriteAsync("{}\u001e"u8.ToArray()).IsCompleted);
        Assert.Empty(_held);
        return (writer, output);
    }

    /// <summary>A connection as <see cref="Connect"/> makes it, that has flushed once already (its first output is never held).</summary>
    private (WebSocketFrameWriter Writer, Pipe Output) Opened()
    {
        var (writer, output) = Connect();
        Assert.True(writer.Opening);
        writer.WriteAsync(Records("opening"));
        while (Unread(output).Length == 0)
        {
            _held[^1].Execute(); // Its round, never held, though it may go behind waiting work first.
        }

        Assert.Equal(["opening"], Frames(Take(output)));
        Assert.False(writer.Opening);
        _held.Clear();
        return (writer, output);
    }

    /// <summary>What a flush made readable, left unread; empty if nothing was flushed.</summary>
    private static byte[] Unread(Pipe output)
    {
        if (!output.Reader.TryRead(out var read))
        {
            return [];
        }

        var bytes = read.Buffer.ToArray();
        output.Reader.AdvanceTo(read.Buffer.Start);
        return bytes;
    }

    /// <summary>What a flush made readable, taken in one read.</summary>
    private static byte[] Take(Pipe output)
    {
        Assert.True(output.Reader.TryRead(out var read), "nothing was flushed");
        var bytes = read.Buffer.ToArray();
        output.Reader.AdvanceTo(read.Buffer.End);
        return bytes;
    }

    /// <summary>The text of the unmasked text frames in <paramref name="bytes"/>, which hold whole frames only.</summary>
    private static List<string> Frames(byte[] bytes)
    {
        var texts = new List<string>();
        var at = 0;
        while (at < bytes.Length)
        {
            Assert.True(WebSocketFrameWriterTests.Frame.TryParse(bytes.AsSpan(at), out var frame, out var length), "a frame cut short");
            Assert.Equal(0x81, frame.First); // FIN, text
            texts.Add(frame.Text);
            at += length;
        }

        return texts;
    }

    private static byte[] Records(string text) => WebSocketFrameWriterTests.Records(text);
}
