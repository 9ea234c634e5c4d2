using System.Buffers;
using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Server.Internal.Legacy;
using Xunit.Abstractions;

namespace RoomHub.Tests.Security;

/// <summary>
/// A seeded random-input run of the legacy codec and hub protocol: valid frames, mutated valid frames and random bytes.
/// Every input must be answered (a command or an error), nothing may throw, and nothing may take long.
/// </summary>
public sealed class LegacyFuzzTests(ITestOutputHelper output)
{
    private const int Frames = 120_000;

    private static readonly string[] Seeds =
    [
        "{\"type\":\"SUBSCRIBE\",\"room\":\"room1\"}",
        "{\"type\":\"UNSUBSCRIBE\",\"room\":\"room1\"}",
        "{\"type\":\"SEND_MESSAGE\",\"roomId\":\"room1\",\"message\":\"Hello, World!\"}",
        "{\"type\":\"SEND_MESSAGE\",\"room\":\"r\",\"message\":{\"a\":[1,2,{\"b\":null}]}}",
        "{\"type\":\"SEND_MESSAGE\",\"roomId\":\"r\",\"message\":12.5e3}",
        "{\"type\":\"SUBSCRIBE\",\"room\":\"\\u00e9\\ud83d\\ude00\",\"extra\":[true,false]}",
    ];

    private static readonly byte[] Interesting = Encoding.UTF8.GetBytes("{}[]\",:\\ntrufalse0123456789.eE+-\u00e9") .Concat(new byte[] { 0, 0x80, 0xc3, 0xff, 0xed, 0xa0 }).ToArray();

    [Fact]
    public void EveryRandomOrMutatedFrameIsAnsweredWithACommandOrAnError()
    {
        var random = new Random(20261123);
        var protocol = new LegacyHubProtocol(LegacyFormat.Envelope);
        var binder = new NoBinder();
        int commands = 0, errors = 0;
        var slowest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();

        for (var i = 0; i < Frames; i++)
        {
            var frame = Next(random, i);
            var started = clock.Elapsed;

            var command = LegacyFrameCodec.Parse(frame);
            Assert.True(command.IsError ^ (command.Kind != LegacyCommandKind.Invalid), $"frame {i} got neither a command nor an error");
            if (command.IsError)
            {
                Assert.False(string.IsNullOrEmpty(command.ErrorText));
                errors++;
            }
            else
            {
                Assert.NotNull(command.Room);
                commands++;
            }

            // The same frame through the hub protocol, as the pump hands it over, and the answer written back.
            var record = new ArrayBufferWriter<byte>();
            LegacyHubProtocol.WriteRecord(record, frame);
            var input = new ReadOnlySequence<byte>(record.WrittenMemory);
            Assert.True(protocol.TryParseMessage(ref input, binder, out var message), $"frame {i} was not parsed");
            Assert.True(input.IsEmpty);
            var answer = message switch
            {
                InvocationMessage invocation => CompletionMessage.WithResult(invocation.InvocationId!, "id"),
                InvocationBindingFailureMessage failure => CompletionMessage.WithError(failure.InvocationId!, "refused"),
                _ => throw new InvalidOperationException($"frame {i}: unexpected {message.GetType().Name}"),
            };
            protocol.WriteMessage(answer, new ArrayBufferWriter<byte>());

            var took = clock.Elapsed - started;
            slowest = took > slowest ? took : slowest;
        }

        output.WriteLine($"fuzz: {Frames} frames, {commands} commands, {errors} errors, slowest {slowest.TotalMilliseconds:0.00} ms, total {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(Frames, commands + errors);
        Assert.True(commands > Frames / 20, "the mutations should keep a share of frames valid");
        Assert.True(slowest < TimeSpan.FromSeconds(1), "no single frame may hang the parser");
    }

    private static byte[] Next(Random random, int i)
    {
        switch (i % 4)
        {
            case 0:
                return Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]);
            case 3:
                var noise = new byte[random.Next(0, 256)];
                random.NextBytes(noise);
                return noise;
            default:
                var bytes = Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]).ToList();
                for (var m = random.Next(1, 4); m > 0 && bytes.Count > 0; m--)
                {
                    var at = random.Next(bytes.Count);
                    switch (random.Next(5))
                    {
                        case 0: bytes[at] = Interesting[random.Next(Interesting.Length)]; break;
                        case 1: bytes.RemoveAt(at); break;
                        case 2: bytes.Insert(at, Interesting[random.Next(Interesting.Length)]); break;
                        case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                        default: bytes.InsertRange(at, Enumerable.Repeat((byte)(random.Next(2) == 0 ? '[' : '{'), random.Next(1, 100))); break;
                    }
                }

                return bytes.ToArray();
        }
    }

    private sealed class NoBinder : IInvocationBinder
    {
        public IReadOnlyList<Type> GetParameterTypes(string methodName) => [typeof(string), typeof(string)];

        public Type GetReturnType(string invocationId) => typeof(object);

        public Type GetStreamItemType(string streamId) => typeof(object);
    }
}
