namespace RoomHub.Tests.Infrastructure;

/// <summary>Two real instances over the run's real Redis, shared by the tests of one class.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private RoomHubCluster? _cluster;

    public RoomHubCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not started.");

    public async Task InitializeAsync() => _cluster = await RoomHubCluster.StartAsync(instances: 2);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
