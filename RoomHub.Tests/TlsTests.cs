using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// Kestrel's own TLS (an HTTPS endpoint in <c>Kestrel:Endpoints</c>) sits between the connection and HTTP, so a legacy
/// WebSocket there runs within its request rather than on the connection (see <c>ConnectionHandoff</c>).
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task LegacyAndSignalRClientsTalkOverKestrelsOwnTls()
    {
        var certificate = SelfSignedCertificate();
        try
        {
            await using var instance = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:Https:Url"] = "https://127.0.0.1:0",
                ["Kestrel:Endpoints:Https:Certificate:Path"] = certificate,
                ["Kestrel:Endpoints:Https:Certificate:Password"] = "test",
            });
            Assert.Equal("https", instance.BaseAddress.Scheme);
            var room = Rooms.Unique("tls");

            using var socket = new ClientWebSocket();
            socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{instance.BaseAddress.Port}/"), CancellationToken.None);
            await using var legacy = LegacyClient.Wrap(socket);

            await using var signalR = await TestClient.ConnectAsync(new HubConnectionBuilder().WithUrl(instance.HubUrl, options =>
            {
                options.HttpMessageHandlerFactory = _ => new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
                options.WebSocketConfiguration = ws => ws.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            }));

            await legacy.SubscribeAsync(room);
            await signalR.SubscribeAsync(room);
            await legacy.WaitUntilInRoomAsync(signalR, room, "over tls");

            // The SignalR client receives its own messages too: it waits for the legacy one's by its text.
            await legacy.SendMessageAsync(room, "back over tls");
            await signalR.WaitForAsync(m => m.Message == "back over tls", "the legacy client's message over TLS");
            await legacy.SendAsync("""{"type":"NOT_A_TYPE"}""");
            await legacy.WaitForErrorAsync("UNKNOWN_TYPE");
        }
        finally
        {
            File.Delete(certificate);
        }
    }

    private static string SelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(Path.GetTempPath(), $"roomhub-tls-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, "test"));
        return path;
    }
}
