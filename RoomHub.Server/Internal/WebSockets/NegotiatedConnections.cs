using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The connections this instance's SignalR negotiate handed out lately, by connection token, so that a negotiated
/// WebSocket can leave HTTP too (see <see cref="LegacyEndpoint.AcceptHubClientAsync"/>), under the connection id its
/// client was given. SignalR still keeps its own record of such a connection, which no request then starts: it lets it go
/// after its disconnect timeout, as it does for a client that negotiates and never connects.
/// </summary>
/// <remarks>
/// A token goes to whichever transport uses it first, once: this server's WebSocket (<see cref="TryTake"/>), or SignalR,
/// for any other request (<see cref="TryLeaveToSignalR"/>: a poll, Server-Sent Events, a WebSocket that cannot leave
/// HTTP). From then on the other refuses it (this server with 409, SignalR as it refuses a request for a connection that
/// runs another transport), so no two connections ever share an id. Entries outlive SignalR's record by a margin
/// (<see cref="LifetimeFor"/>), so that no request for a token taken here reaches SignalR while SignalR would still start
/// a connection for it. Only negotiations of version 1 are noted: with version 0 the token is the connection id itself,
/// which other clients may see (in member events).
/// </remarks>
internal sealed class NegotiatedConnections(TimeProvider time, TimeSpan lifetime)
{
    private readonly Lock _rotation = new();
    private ConcurrentDictionary<string, Entry> _current = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, Entry> _previous = new(StringComparer.Ordinal);
    private long _rotatedAt = time.GetTimestamp();

    /// <summary>The lifetime for SignalR's <paramref name="disconnectTimeout"/>: its record goes at the first scan (one a second) after it.</summary>
    public static TimeSpan LifetimeFor(TimeSpan disconnectTimeout) => disconnectTimeout + TimeSpan.FromSeconds(15);

    /// <summary>
    /// Answers a negotiate request with SignalR's own answer, noting the connection it hands out first, before the client
    /// can use it. Only where a WebSocket can leave HTTP (the request's own connection can), and not for a client that
    /// asked for stateful reconnect, which the server's transport does not offer.
    /// </summary>
    public async Task NegotiateAsync(HttpContext context, RequestDelegate negotiate)
    {
        if (ConnectionHandoff.Of(context) is null || context.Request.Query["useStatefulReconnect"] == "true")
        {
            await negotiate(context).ConfigureAwait(false);
            return;
        }

        var body = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var answer = new MemoryStream();
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(answer));
        try
        {
            await negotiate(context).ConfigureAwait(false);
        }
        finally
        {
            context.Features.Set(body);
        }

        var written = answer.GetBuffer().AsMemory(0, (int)answer.Length);
        if (context.Response.StatusCode == StatusCodes.Status200OK)
        {
            Record(written.Span);
        }

        await body.Writer.WriteAsync(written, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// Notes the connection a negotiate response hands out (SignalR's transport protocol): its <c>connectionToken</c> is
    /// what the client connects with, as the <c>id</c> query. Only one of version 1 (with a token) that offers WebSockets
    /// and no stateful reconnect.
    /// </summary>
    internal void Record(ReadOnlySpan<byte> response)
    {
        string? id = null, token = null;
        bool webSockets = false, stateful = false;
        try
        {
            var reader = new Utf8JsonReader(response);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                if (reader.CurrentDepth == 1 && reader.ValueTextEquals("connectionId"u8) && reader.Read())
                {
                    id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("connectionToken"u8) && reader.Read())
                {
                    token = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("useStatefulReconnect"u8) && reader.Read())
                {
                    stateful = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.CurrentDepth == 3 && reader.ValueTextEquals("transport"u8) && reader.Read())
                {
                    webSockets |= reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("WebSockets"u8);
                }
            }
        }
        catch (JsonException)
        {
            return; // Not a negotiate answer this class knows: the client keeps SignalR's transports.
        }

        if (id is not null && token is not null && webSockets && !stateful)
        {
            Add(token, id);
        }
    }

    internal void Add(string token, string connectionId)
    {
        Rotate();
        _current[token] = new Entry(connectionId, time.GetTimestamp());
    }

    /// <summary>Whether a WebSocket with <paramref name="token"/> is this server's to run (or to refuse): it was negotiated here lately and not left to SignalR.</summary>
    public bool IsOurs(string token) => Find(token) is { } entry && entry.State != Entry.SignalR;

    /// <summary>Takes <paramref name="token"/> for this server's WebSocket, once, if no transport has it: the connection id it was negotiated for.</summary>
    public bool TryTake(string token, [NotNullWhen(true)] out string? connectionId)
    {
        if (Find(token) is { } entry && entry.Claim(Entry.Ours))
        {
            connectionId = entry.ConnectionId;
            return true;
        }

        connectionId = null;
        return false;
    }

    /// <summary>
    /// Leaves <paramref name="token"/> to SignalR, for a request SignalR serves: false if this server's WebSocket has it
    /// (the request is then refused), true otherwise (not noted here, or SignalR's already, or SignalR's from now on).
    /// </summary>
    public bool TryLeaveToSignalR(string token) => Find(token) is not { } entry || entry.Claim(Entry.SignalR) || entry.State == Entry.SignalR;

    private Entry? Find(string token)
    {
        Rotate();
        return (_current.TryGetValue(token, out var entry) || _previous.TryGetValue(token, out entry))
            && time.GetElapsedTime(entry.NegotiatedAt) <= lifetime ? entry : null;
    }

    /// <summary>
    /// Every lifetime (how long a token is known after its negotiation), the newer table becomes the older one and the older one is let go, with entries that
    /// are all past their lifetime by then: the tables hold at most two lifetimes of negotiations, with no sweep.
    /// </summary>
    private void Rotate()
    {
        if (time.GetElapsedTime(Interlocked.Read(ref _rotatedAt)) < lifetime)
        {
            return;
        }

        lock (_rotation)
        {
            if (time.GetElapsedTime(_rotatedAt) < lifetime)
            {
                return;
            }

            _previous = _current;
            _current = new(StringComparer.Ordinal);
            Interlocked.Exchange(ref _rotatedAt, time.GetTimestamp());
        }
    }

    private sealed class Entry(string connectionId, long negotiatedAt)
    {
        public const int Free = 0, Ours = 1, SignalR = 2;

        private int _state;

        public string ConnectionId => connectionId;

        public long NegotiatedAt => negotiatedAt;

        public int State => Volatile.Read(ref _state);

        /// <summary>Gives the token to <paramref name="transport"/> if no transport has it yet.</summary>
        public bool Claim(int transport) => Interlocked.CompareExchange(ref _state, transport, Free) == Free;
    }
}
