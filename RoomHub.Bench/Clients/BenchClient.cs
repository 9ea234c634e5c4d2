using RoomHub.Bench.Measurement;
using RoomHub.Contracts;

namespace RoomHub.Bench.Clients;

/// <summary>Opens a connection of the chosen mode to one target.</summary>
internal static class BenchClient
{
    public static async Task<IBenchConnection> ConnectAsync(BenchOptions options, Uri target, HttpMessageInvoker invoker, Receiver? receiver, RunStats stats, CancellationToken cancellationToken) =>
        options.Client switch
        {
            ClientMode.Hub => await HubClient.ConnectAsync(HubUrl(target), options.Negotiate, invoker, receiver, stats, cancellationToken).ConfigureAwait(false),
            ClientMode.Lean => await LeanClient.ConnectAsync(HubUrl(target), options.Negotiate, invoker, receiver, stats, cancellationToken).ConfigureAwait(false),
            _ => await LegacyClient.ConnectAsync(target, invoker, receiver, stats, cancellationToken).ConfigureAwait(false),
        };

    /// <summary>A target given as a bare server address (path <c>/</c>) means RoomHub's hub path for the SignalR clients.</summary>
    public static Uri HubUrl(Uri target) =>
        target.AbsolutePath is "/" or "" ? new Uri(target, RoomHubPaths.Hub) : target;
}
