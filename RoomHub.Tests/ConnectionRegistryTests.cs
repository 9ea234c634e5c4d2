using RoomHub.Server.Internal;

namespace RoomHub.Tests;

public sealed class ConnectionRegistryTests
{
    private static ConnectionState Connection(string id) => new(id, ConnectionRegistry.SignalR, user: null, session: null);

    [Fact]
    public void AConnectionsRoomsAreASetFromTheFirstRoomToManyAndBack()
    {
        var a = Connection("a");
        Assert.Equal((0, false), (a.RoomCount, a.InRoom("one")));
        Assert.True(a.AddRoom("one"));
        Assert.False(a.AddRoom("one"));
        Assert.Equal((1, true, false), (a.RoomCount, a.InRoom("one"), a.InRoom("two")));
        Assert.False(a.RemoveRoom("two"));

        Assert.True(a.AddRoom("two"));
        Assert.True(a.AddRoom("three"));
        Assert.False(a.AddRoom("two"));
        Assert.Equal(["one", "three", "two"], a.Rooms().Order(StringComparer.Ordinal));

        Assert.True(a.RemoveRoom("one"));
        Assert.True(a.RemoveRoom("three"));
        Assert.Equal(1, a.RoomCount);
        Assert.Equal(["two"], a.Rooms());
        Assert.True(a.RemoveRoom("two"));
        Assert.Equal((0, 0), (a.RoomCount, a.Rooms().Length));
        Assert.True(a.AddRoom("again"));
        Assert.Equal(["again"], a.Rooms());
    }

    [Fact]
    public void LocalMembersFollowJoinsLeavesAndCloses()
    {
        var registry = new ConnectionRegistry();
        var a = Connection("a");
        var b = Connection("b");

        // A room joined before the connection is registered counts from its registration.
        a.AddRoom("lobby");
        registry.Add(a);
        registry.Add(b);
        Assert.Equal(1, registry.LocalMembers("lobby"));

        Assert.True(b.AddRoom("lobby"));
        Assert.False(b.AddRoom("lobby"));
        b.AddRoom("kitchen");
        Assert.Equal(2, registry.LocalMembers("lobby"));
        Assert.Equal(1, registry.LocalMembers("kitchen"));
        Assert.Equal(2, registry.LocalRoomCount());

        Assert.True(a.RemoveRoom("lobby"));
        Assert.False(a.RemoveRoom("lobby"));
        Assert.Equal(1, registry.LocalMembers("lobby"));

        registry.Remove("b");
        Assert.Equal(0, registry.LocalMembers("lobby"));
        Assert.Equal(0, registry.LocalMembers("kitchen"));
        Assert.Equal(0, registry.LocalRoomCount());

        // The closed connection's rooms stay readable for the clean-up that follows its close.
        Assert.Equal(["kitchen", "lobby"], b.Rooms().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AJoinOrLeaveThatRacesTheCloseLeavesNoCountBehind()
    {
        var registry = new ConnectionRegistry();
        var a = Connection("a");
        var other = Connection("other");
        registry.Add(a);
        registry.Add(other);
        a.AddRoom("lobby");
        other.AddRoom("lobby");

        registry.Remove("a");

        // A join that looked the connection up just before its close lands after it: not counted, not added.
        Assert.False(a.AddRoom("kitchen"));
        Assert.Equal(0, registry.LocalMembers("kitchen"));

        // A leave after the close must not take away another member's count.
        Assert.True(a.RemoveRoom("lobby"));
        Assert.Equal(1, registry.LocalMembers("lobby"));

        // Closing twice counts once.
        Assert.Null(registry.Remove("a"));
        a.Close();
        Assert.Equal(1, registry.LocalMembers("lobby"));
    }

    [Fact]
    public void ConcurrentJoinsAndLeavesOfOneRoomEndWithTheRightCount()
    {
        var registry = new ConnectionRegistry();
        var connections = Enumerable.Range(0, 64).Select(i => Connection($"c{i}")).ToArray();
        foreach (var connection in connections)
        {
            registry.Add(connection);
        }

        // Every connection joins and leaves the same room many times at once with the others; half stay in at the end.
        Parallel.For(0, connections.Length, i =>
        {
            for (var round = 0; round < 2_000; round++)
            {
                connections[i].AddRoom("hot");
                connections[i].RemoveRoom("hot");
            }

            if (i % 2 == 0)
            {
                connections[i].AddRoom("hot");
            }
        });

        Assert.Equal(connections.Length / 2, registry.LocalMembers("hot"));
        Assert.Equal(1, registry.LocalRoomCount());

        Parallel.ForEach(connections, connection => registry.Remove(connection.ConnectionId));
        Assert.Equal(0, registry.LocalMembers("hot"));
        Assert.Equal(0, registry.LocalRoomCount());
    }
}
