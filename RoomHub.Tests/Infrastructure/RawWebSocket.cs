using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A WebSocket client written by hand over a <see cref="TcpClient"/>, so tests can send what no well-behaved client
/// library would: unmasked or reserved-bit frames, bad opcodes, split UTF-8, truncated frames, or simply stop reading.
/// </summary>
public sealed class RawWebSocket : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private RawWebSocket(TcpClient tcp, int status, string responseHead)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        Status = status;
        ResponseHead = responseHead;
    }

    /// <summary>The HTTP status of the upgrade: 101 when it was accepted.</summary>
    public int Status { get; }

    public string ResponseHead { get; }

    public static async Task<RawWebSocket> ConnectAsync(RoomHubInstance instance, string pathAndQuery = "/", IDictionary<string, string>? headers = null, int? receiveBufferSize = null)
    {
        var tcp = new TcpClient();
        if (receiveBufferSize is { } size)
        {
            tcp.ReceiveBufferSize = size;
        }

        await tcp.ConnectAsync(instance.BaseAddress.Host, instance.BaseAddress.Port);
        var stream = tcp.GetStream();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = new StringBuilder()
            .Append($"GET {pathAndQuery} HTTP/1.1\r\nHost: {instance.BaseAddress.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
            .Append($"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n");
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Append($"{name}: {value}\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.Append("\r\n").ToString()));

        // Read the response head byte by byte, so no frame byte after it is consumed.
        var head = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, timeout.Token) == 0)
            {
                break;
            }

            head.Append((char)one[0]);
        }

        var text = head.ToString();
        var status = text.Length > 12 && int.TryParse(text.AsSpan(9, 3), out var code) ? code : 0;
        return new RawWebSocket(tcp, status, text);
    }

    /// <summary>Whether each write goes out at once (no Nagle): a test that sends a frame in parts needs them apart.</summary>
    public bool NoDelay
    {
        get => _tcp.NoDelay;
        set => _tcp.NoDelay = value;
    }

    public Task SendTextAsync(string text) => SendFrameAsync(0x1, Encoding.UTF8.GetBytes(text));

    /// <summary>Writes bytes as they are: part of a frame, for one.</summary>
    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Writes one frame exactly as told: opcode, FIN, RSV bits, masking, and an optional declared length.</summary>
    public async Task SendFrameAsync(int opcode, ReadOnlyMemory<byte> payload, bool fin = true, int rsv = 0, bool mask = true, long? declaredLength = null)
    {
        var length = declaredLength ?? payload.Length;
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode) };
        var maskBit = mask ? 0x80 : 0;
        if (length < 126)
        {
            header.Add((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.Add((byte)(maskBit | 126));
            header.Add((byte)(length >> 8));
            header.Add((byte)length);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(bytes, length);
            header.AddRange(bytes);
        }

        var body = payload.ToArray();
        if (mask)
        {
            var key = RandomNumberGenerator.GetBytes(4);
            header.AddRange(key);
            for (var i = 0; i < body.Length; i++)
            {
                body[i] ^= key[i % 4];
            }
        }

        await _stream.WriteAsync(header.ToArray());
        await _stream.WriteAsync(body);
    }

    public Task SendCloseAsync(int code, string reason = "")
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return SendFrameAsync(0x8, payload);
    }

    /// <summary>The next frame from the server, or <see langword="null"/> when the connection ended (or nothing came in time).</summary>
    public async Task<Frame?> ReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            var head = await ReadExactlyAsync(2, cts.Token);
            if (head is null)
            {
                return null;
            }

            long length = head[1] & 0x7f;
            if (length == 126)
            {
                length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, cts.Token) ?? new byte[2]);
            }
            else if (length == 127)
            {
                length = BinaryPrimitives.ReadInt64BigEndian(await ReadExactlyAsync(8, cts.Token) ?? new byte[8]);
            }

            var payload = length == 0 ? [] : await ReadExactlyAsync((int)length, cts.Token);
            return payload is null ? null : new Frame(head[0] & 0x0f, (head[0] & 0x80) != 0, payload);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Reads frames until a close frame (its code) or the end of the connection (<see langword="null"/>).</summary>
    public async Task<(int? CloseCode, List<Frame> Frames)> ReadUntilCloseAsync(TimeSpan? timeout = null)
    {
        var frames = new List<Frame>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            var frame = await ReadFrameAsync(deadline - DateTime.UtcNow);
            if (frame is null)
            {
                return (null, frames);
            }

            if (frame.Opcode == 0x8)
            {
                return (frame.Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(frame.Payload) : 1005, frames);
            }

            frames.Add(frame);
        }

        return (null, frames);
    }

    /// <summary>Whether the server has closed the TCP connection (a read returns end of stream or fails) within the time.</summary>
    public async Task<bool> IsDisconnectedWithinAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var buffer = new byte[64 * 1024];
        while (DateTime.UtcNow < deadline)
        {
            using var cts = new CancellationTokenSource(deadline - DateTime.UtcNow);
            try
            {
                if (await _stream.ReadAsync(buffer, cts.Token) == 0)
                {
                    return true;
                }
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                return true;
            }
        }

        return false;
    }

    private async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return null;
            }

            read += n;
        }

        return buffer;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    public sealed record Frame(int Opcode, bool Fin, byte[] Payload)
    {
        public string Text => Encoding.UTF8.GetString(Payload);
    }
}
