namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// Tests that read process-wide state (meters) or hold the server to a deadline run in this collection, alone, after
/// the parallel ones: their figures are then their own, not the load of forty other tests on two cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection
{
    public const string Name = "Isolated";
}
