using System.Text;
using Microsoft.Extensions.Time.Testing;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

public sealed class NegotiatedConnectionsTests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new();
    private readonly NegotiatedConnections _negotiated;

    public NegotiatedConnectionsTests() => _negotiated = new NegotiatedConnections(_time, Lifetime);

    private static byte[] Answer(string json) => Encoding.UTF8.GetBytes(json);

    private const string Version1 = """
        {"negotiateVersion":1,"connectionId":"id-1","connectionToken":"token-1","availableTransports":[
          {"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"ServerSentEvents","transferFormats":["Text"]}]}
        """;

    [Fact]
    public void AVersion1AnswerOfferingWebSocketsIsNotedByItsTokenAndTakenOnceForItsConnectionId()
    {
        _negotiated.Record(Answer(Version1));
        Assert.False(_negotiated.IsOurs("id-1"), "the connection id is no token");
        Assert.True(_negotiated.IsOurs("token-1"));
        Assert.True(_negotiated.TryTake("token-1", out var id));
        Assert.Equal("id-1", id);

        // Taken: no second WebSocket gets it, and SignalR does not either (the request is refused).
        Assert.True(_negotiated.IsOurs("token-1"));
        Assert.False(_negotiated.TryTake("token-1", out _));
        Assert.False(_negotiated.TryLeaveToSignalR("token-1"));
    }

    [Fact]
    public void ATokenSignalRServedFirstStaysSignalRs()
    {
        _negotiated.Record(Answer(Version1));
        Assert.True(_negotiated.TryLeaveToSignalR("token-1"));
        Assert.True(_negotiated.TryLeaveToSignalR("token-1"));
        Assert.False(_negotiated.IsOurs("token-1"));
        Assert.False(_negotiated.TryTake("token-1", out _));
        Assert.True(_negotiated.TryLeaveToSignalR("unknown"), "a token not noted here is SignalR's to judge");
    }

    [Theory]
    [InlineData("""{"connectionId":"id-0","availableTransports":[{"transport":"WebSockets","transferFormats":["Text"]}]}""")]
    [InlineData("""{"negotiateVersion":1,"connectionId":"id-1","connectionToken":"token-1","availableTransports":[{"transport":"LongPolling","transferFormats":["Text"]}]}""")]
    [InlineData("""{"negotiateVersion":1,"connectionId":"id-1","connectionToken":"token-1","useStatefulReconnect":true,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text"]}]}""")]
    [InlineData("""{"error":"Negotiate failed"}""")]
    [InlineData("""{"negotiateVersion":1,"connectionId":""")]
    public void Version0StatefulReconnectNoWebSocketsErrorsAndBrokenAnswersAreNotNoted(string answer)
    {
        _negotiated.Record(Answer(answer));
        Assert.False(_negotiated.IsOurs("token-1"));
        Assert.False(_negotiated.IsOurs("id-0"));
    }

    [Fact]
    public void ATokenIsForgottenAfterItsLifetimeTakenOrNot()
    {
        _negotiated.Record(Answer(Version1));
        _time.Advance(Lifetime);
        Assert.True(_negotiated.IsOurs("token-1"));
        _negotiated.Add("token-2", "id-2");
        Assert.True(_negotiated.TryTake("token-2", out _));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(_negotiated.IsOurs("token-1"));
        Assert.False(_negotiated.TryTake("token-1", out _));
        Assert.True(_negotiated.TryLeaveToSignalR("token-1"), "SignalR's own record is gone by then");

        // A token taken here is kept from SignalR until its lifetime ends (across a rotation of the tables); then it is
        // SignalR's to refuse.
        Assert.True(_negotiated.IsOurs("token-2"));
        Assert.False(_negotiated.TryLeaveToSignalR("token-2"));
        _time.Advance(Lifetime);
        Assert.False(_negotiated.IsOurs("token-2"));
        Assert.True(_negotiated.TryLeaveToSignalR("token-2"));
    }
}
