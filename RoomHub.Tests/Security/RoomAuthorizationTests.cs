using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

public sealed class RoomAuthorizationTests : IAsyncLifetime
{
    private RoomHubInstance? _server;

    private RoomHubInstance Server => _server!;

    public async Task InitializeAsync()
    {
        var settings = Tokens.Settings(require: false);
        settings["RoomHub:Security:Rooms:0:Pattern"] = "user:{sub}:*";
        settings["RoomHub:Security:Rooms:1:Pattern"] = "private:*";
        settings["RoomHub:Security:Rooms:1:RequireClaim"] = "role=vip";
        settings["RoomHub:Security:Rooms:2:Pattern"] = "announcements:*";
        settings["RoomHub:Security:Rooms:2:Actions"] = "Publish";
        settings["RoomHub:Security:Rooms:2:RequireClaim"] = "role=admin";
        _server = await RoomHubInstance.StartAsync(settings);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();

    [Fact]
    public async Task AUserRoomIsOnlyForThatUserOverSignalR()
    {
        await using var alice = await SecureClients.HubAsync(Server, Tokens.Mint("alice"));
        await using var anonymous = await SecureClients.HubAsync(Server);

        await alice.InvokeAsync("Subscribe", "user:alice:inbox");
        await alice.InvokeAsync<string>("SendMessage", "user:alice:inbox", "note to self");
        await AssertForbiddenAsync(() => alice.InvokeAsync("Subscribe", "user:bob:inbox"));
        await AssertForbiddenAsync(() => alice.InvokeAsync<string>("SendMessage", "user:bob:inbox", "hi bob"));
        await AssertForbiddenAsync(() => alice.InvokeAsync("Subscribe", "user:alice:x:user:bob:inbox".Replace("alice:x:", "", StringComparison.Ordinal)));
        await AssertForbiddenAsync(() => anonymous.InvokeAsync("Subscribe", "user:alice:inbox"));
    }

    [Fact]
    public async Task AUserRoomIsOnlyForThatUserOverTheLegacyProtocol()
    {
        await using var alice = await SecureClients.LegacyAsync(Server, Tokens.Mint("alice"));
        await using var bob = await SecureClients.LegacyAsync(Server, Tokens.Mint("bob"));

        await bob.SubscribeAsync("user:alice:inbox");
        var error = await bob.WaitForErrorAsync("FORBIDDEN");
        Assert.Contains("user:alice:inbox", (string?)error["message"], StringComparison.Ordinal);

        await alice.SubscribeAsync("user:alice:inbox");
        await using var sender = await SecureClients.HubAsync(Server, Tokens.Mint("alice"));
        await Poll.UntilAsync(async () =>
        {
            await sender.InvokeAsync<string>("SendMessage", "user:alice:inbox", "for alice");
            return alice.Frames.Contains("for alice");
        }, "alice to get her own room's message");
        Assert.DoesNotContain("for alice", bob.Frames);

        await bob.SendMessageAsync("user:alice:inbox", "spoof");
        await Poll.UntilAsync(() => bob.Json().Count(j => (string?)j["code"] == "FORBIDDEN") >= 2, "a second FORBIDDEN");
    }

    [Fact]
    public async Task APrivateRoomNeedsTheClaimOnBothTransports()
    {
        await using var vip = await SecureClients.HubAsync(Server, Tokens.Mint("carol", claims: ("role", "vip")));
        await using var member = await SecureClients.HubAsync(Server, Tokens.Mint("dave", claims: ("role", "member")));
        await using var legacy = await SecureClients.LegacyAsync(Server, Tokens.Mint("erin"));
        await using var anonymousLegacy = await LegacyClient.ConnectAsync(Server);

        await vip.InvokeAsync("Subscribe", "private:lounge");
        await AssertForbiddenAsync(() => member.InvokeAsync("Subscribe", "private:lounge"));
        await legacy.SubscribeAsync("private:lounge");
        await legacy.WaitForErrorAsync("FORBIDDEN");
        await anonymousLegacy.SubscribeAsync("private:lounge");
        await anonymousLegacy.WaitForErrorAsync("FORBIDDEN");
    }

    [Fact]
    public async Task ARuleCanCoverPublishingOnly()
    {
        await using var admin = await SecureClients.HubAsync(Server, Tokens.Mint("root", claims: ("role", "admin")));
        await using var reader = await SecureClients.HubAsync(Server);

        await reader.InvokeAsync("Subscribe", "announcements:all");
        await AssertForbiddenAsync(() => reader.InvokeAsync<string>("SendMessage", "announcements:all", "fake news"));
        await admin.InvokeAsync<string>("SendMessage", "announcements:all", "real news");
    }

    private static async Task AssertForbiddenAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<HubException>(call);
        Assert.Contains("FORBIDDEN: ", error.Message, StringComparison.Ordinal);
    }
}
