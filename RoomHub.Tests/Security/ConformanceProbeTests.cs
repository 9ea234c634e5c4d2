using System.Text;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

/// <summary>
/// A protocol-conformance probe of the raw legacy endpoint in the manner of the Autobahn test suite: every case writes
/// frames by hand over a TCP socket and checks the server's answer against RFC 6455.
/// </summary>
public sealed class ConformanceProbeTests(ConformanceProbeTests.Server server) : IClassFixture<ConformanceProbeTests.Server>
{
    private const string Unknown = "{\"type\":\"NOPE\"}";
    private const int Text = 0x1, Binary = 0x2, Continuation = 0x0, Close = 0x8, Ping = 0x9, Pong = 0xA;

    public static TheoryData<string> Cases => new(CaseTable.Keys);

    private static readonly Dictionary<string, Func<RawWebSocket, Task>> CaseTable = new()
    {
        ["1.1 text frame is answered"] = async s => { await s.SendTextAsync(Unknown); await ExpectErrorAsync(s, "UNKNOWN_TYPE"); },
        ["1.2 binary frame is read like text"] = async s => { await s.SendFrameAsync(Binary, Bytes(Unknown)); await ExpectErrorAsync(s, "UNKNOWN_TYPE"); },
        ["1.3 empty text frame is answered"] = async s => { await s.SendFrameAsync(Text, Array.Empty<byte>()); await ExpectErrorAsync(s, "INVALID_JSON"); },
        ["1.4 64 KiB frame in 16-bit and 64-bit length forms"] = async s =>
        {
            var big = "{\"type\":\"NOPE\",\"pad\":\"" + new string('a', 70_000) + "\"}";
            await s.SendTextAsync(big);
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["1.5 empty text frame then a text frame are two messages"] = async s =>
        {
            await s.SendFrameAsync(Text, Array.Empty<byte>());
            await s.SendTextAsync(Unknown);
            await ExpectErrorAsync(s, "INVALID_JSON");
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["5.1 fragmented text in three parts is one message"] = async s =>
        {
            await s.SendFrameAsync(Text, Bytes("{\"type\""), fin: false);
            await s.SendFrameAsync(Continuation, Bytes(":\"NO"), fin: false);
            await s.SendFrameAsync(Continuation, Bytes("PE\"}"));
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["5.2 ping between fragments is answered, then the message"] = async s =>
        {
            await s.SendFrameAsync(Text, Bytes("{\"type\""), fin: false);
            await s.SendFrameAsync(Ping, Bytes("mid"));
            await s.SendFrameAsync(Continuation, Bytes(":\"NOPE\"}"));
            var pong = await s.ReadFrameAsync();
            Assert.Equal((Pong, "mid"), (pong!.Opcode, pong.Text));
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["5.3 continuation without a start is a protocol error"] = async s => { await s.SendFrameAsync(Continuation, Bytes(Unknown)); await ExpectCloseAsync(s, 1002); },
        ["5.4 new text frame inside an open fragmented message is a protocol error"] = async s =>
        {
            await s.SendFrameAsync(Text, Bytes("{"), fin: false);
            await s.SendFrameAsync(Text, Bytes(Unknown));
            await ExpectCloseAsync(s, 1002);
        },
        ["5.5 fragmented text opened by an empty fragment is one message"] = async s =>
        {
            await s.SendFrameAsync(Text, Array.Empty<byte>(), fin: false);
            await s.SendFrameAsync(Continuation, Bytes(Unknown));
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["2.1 ping with empty payload gets a pong"] = async s => { await s.SendFrameAsync(Ping, Array.Empty<byte>()); await ExpectPongAsync(s, ""); },
        ["2.2 ping with 125-byte payload gets it echoed"] = async s => { var p = new string('p', 125); await s.SendFrameAsync(Ping, Bytes(p)); await ExpectPongAsync(s, p); },
        ["2.3 ping with 126-byte payload is a protocol error"] = async s => { await s.SendFrameAsync(Ping, Bytes(new string('p', 126))); await ExpectCloseAsync(s, 1002); },
        ["2.4 fragmented ping is a protocol error"] = async s => { await s.SendFrameAsync(Ping, Bytes("x"), fin: false); await ExpectCloseAsync(s, 1002); },
        ["2.5 unsolicited pong is ignored"] = async s => { await s.SendFrameAsync(Pong, Bytes("hi")); await s.SendTextAsync(Unknown); await ExpectErrorAsync(s, "UNKNOWN_TYPE"); },
        ["3.1 RSV1 set is a protocol error"] = async s => { await s.SendFrameAsync(Text, Bytes(Unknown), rsv: 4); await ExpectCloseAsync(s, 1002); },
        ["3.2 RSV3 set on a ping is a protocol error"] = async s => { await s.SendFrameAsync(Ping, Bytes("x"), rsv: 1); await ExpectCloseAsync(s, 1002); },
        ["4.1 reserved data opcode 3 is a protocol error"] = async s => { await s.SendFrameAsync(3, Bytes(Unknown)); await ExpectCloseAsync(s, 1002); },
        ["4.2 reserved control opcode 0xB is a protocol error"] = async s => { await s.SendFrameAsync(0xB, Array.Empty<byte>()); await ExpectCloseAsync(s, 1002); },
        ["6.1 invalid UTF-8 in a text frame closes with 1007"] = async s => { await s.SendFrameAsync(Text, new byte[] { 0x7b, 0xc3, 0x28, 0x7d }); await ExpectCloseAsync(s, 1007); },
        ["6.2 valid UTF-8 split across fragments is accepted"] = async s =>
        {
            var bytes = Bytes("{\"type\":\"NÖPE\"}");
            var split = Array.IndexOf(bytes, (byte)0xc3) + 1;
            await s.SendFrameAsync(Text, bytes[..split], fin: false);
            await s.SendFrameAsync(Continuation, bytes[split..]);
            await ExpectErrorAsync(s, "UNKNOWN_TYPE");
        },
        ["6.3 invalid UTF-8 split across fragments closes with 1007"] = async s =>
        {
            await s.SendFrameAsync(Text, new byte[] { 0x7b, 0x22, 0xe2, 0x82 }, fin: false);
            await s.SendFrameAsync(Continuation, new byte[] { 0x28, 0x22, 0x7d });
            await ExpectCloseAsync(s, 1007);
        },
        ["6.4 overlong UTF-8 encoding closes with 1007"] = async s => { await s.SendFrameAsync(Text, new byte[] { 0x22, 0xc0, 0xaf, 0x22 }); await ExpectCloseAsync(s, 1007); },
        ["6.5 UTF-16 surrogate encoded in UTF-8 closes with 1007"] = async s => { await s.SendFrameAsync(Text, new byte[] { 0x22, 0xed, 0xa0, 0x80, 0x22 }); await ExpectCloseAsync(s, 1007); },
        ["7.1 close 1000 is echoed"] = async s => { await s.SendCloseAsync(1000); await ExpectCloseAsync(s, 1000); },
        ["7.2 close with no payload is answered"] = async s => { await s.SendFrameAsync(Close, Array.Empty<byte>()); var (code, _) = await s.ReadUntilCloseAsync(); Assert.True(code is 1000 or 1005, $"close {code}"); },
        ["7.3 close 4000 (private use) is accepted"] = async s => { await s.SendCloseAsync(4000); var (code, _) = await s.ReadUntilCloseAsync(); Assert.NotNull(code); },
        ["7.4 close with a 1-byte payload is a protocol error"] = async s => { await s.SendFrameAsync(Close, new byte[] { 0x03 }); await ExpectCloseAsync(s, 1002); },
        ["7.5 close code 999 is a protocol error"] = async s => { await s.SendCloseAsync(999); await ExpectCloseAsync(s, 1002); },
        ["7.6 close code 1005 on the wire is a protocol error"] = async s => { await s.SendCloseAsync(1005); await ExpectCloseAsync(s, 1002); },
        ["7.7 close reason of invalid UTF-8 is refused"] = async s =>
        {
            await s.SendFrameAsync(Close, new byte[] { 0x03, 0xe8, 0xc3, 0x28 });
            var (code, _) = await s.ReadUntilCloseAsync();
            Assert.True(code is 1002 or 1007, $"close {code}");
        },
        ["9.1 frame over MaxReceiveMessageSize closes with 1009"] = async s => { await s.SendFrameAsync(Text, new byte[200 * 1024]); await ExpectCloseAsync(s, 1009); },
        ["9.2 fragments adding up over MaxReceiveMessageSize close with 1009"] = async s =>
        {
            for (var i = 0; i < 5; i++)
            {
                await s.SendFrameAsync(i == 0 ? Text : Continuation, new byte[40 * 1024], fin: false);
            }

            await ExpectCloseAsync(s, 1009);
        },
        ["9.3 frame declaring 2^62 bytes is cut off"] = async s =>
        {
            await s.SendFrameAsync(Text, new byte[200 * 1024], declaredLength: 1L << 62);
            var (code, _) = await s.ReadUntilCloseAsync();
            Assert.True(code is null or 1002 or 1009, $"close {code}");
            Assert.True(await s.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(10)));
        },
        ["10.1 unmasked client frame is a protocol error"] = async s => { await s.SendFrameAsync(Text, Bytes(Unknown), mask: false); await ExpectCloseAsync(s, 1002); },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task RawEndpointConformsToRfc6455(string name)
    {
        await using var socket = await RawWebSocket.ConnectAsync(server.Instance, "/");
        Assert.Equal(101, socket.Status);
        await CaseTable[name](socket);

        // Whatever one connection did, the endpoint still serves the next one.
        await using var next = await RawWebSocket.ConnectAsync(server.Instance, "/");
        await next.SendTextAsync(Unknown);
        await ExpectErrorAsync(next, "UNKNOWN_TYPE");
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static async Task ExpectErrorAsync(RawWebSocket socket, string code)
    {
        var frame = await socket.ReadFrameAsync();
        Assert.NotNull(frame);
        Assert.Equal(Text, frame.Opcode);
        Assert.Contains($"\"code\":\"{code}\"", frame.Text, StringComparison.Ordinal);
    }

    private static async Task ExpectPongAsync(RawWebSocket socket, string payload)
    {
        var frame = await socket.ReadFrameAsync();
        Assert.Equal((Pong, payload), (frame!.Opcode, frame.Text));
    }

    [Fact]
    public async Task AClientStillSendingTheRestOfAnOversizedMessageGetsTheCloseCodeNotAReset()
    {
        await using var socket = await RawWebSocket.ConnectAsync(server.Instance, "/");

        // The first fragment is over the limit already; the rest (far more than the sockets' buffers hold) is still on its
        // way when the server has refused the message.
        await socket.SendFrameAsync(Text, new byte[200 * 1024], fin: false);
        for (var i = 0; i < 256; i++)
        {
            await socket.SendFrameAsync(Continuation, new byte[64 * 1024], fin: i == 255);
        }

        await ExpectCloseAsync(socket, 1009);
    }

    private static async Task ExpectCloseAsync(RawWebSocket socket, int code)
    {
        var (closeCode, _) = await socket.ReadUntilCloseAsync();
        Assert.Equal(code, closeCode);
    }

    public sealed class Server : IAsyncLifetime
    {
        public RoomHubInstance Instance { get; private set; } = null!;

        public async Task InitializeAsync() => Instance = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:FrameTimeout"] = "00:00:02",
            ["RoomHub:MaxReceiveMessageSize"] = "131072",
            ["RoomHub:Security:MaxConnectionsPerAddress"] = "1000",
        });

        public async Task DisposeAsync() => await Instance.DisposeAsync();
    }
}
