namespace RoomHub.Bench.Scenarios;

/// <summary>
/// Who connects where, who joins which room and who sends to it. Pure, so that the layout of every scenario can be
/// checked without sockets.
/// </summary>
internal sealed record LoadPlan(IReadOnlyList<PlannedConnection> Connections, IReadOnlyList<string> Rooms)
{
    /// <summary>
    /// <c>fanout</c>: one room, S subscribers and P publishers spread round-robin over the targets.
    /// <c>cross</c>: the same, with every publisher on the first target, so half the deliveries cross Redis.
    /// <c>rooms</c>: N connections in rooms of M; each member sends to its own room; members of a room alternate targets.
    /// </summary>
    public static LoadPlan Create(BenchOptions options, int targets, string runId)
    {
        var connections = new List<PlannedConnection>();
        var rooms = new List<string>();
        switch (options.Scenario)
        {
            case Scenario.Fanout or Scenario.Cross:
                var room = $"bench-{runId}-fanout";
                rooms.Add(room);
                for (var i = 0; i < options.Subscribers; i++)
                {
                    connections.Add(new PlannedConnection(i % targets, room, null, -1));
                }

                for (var p = 0; p < options.Publishers; p++)
                {
                    var target = options.Scenario == Scenario.Cross ? 0 : p % targets;
                    connections.Add(new PlannedConnection(target, null, room, p));
                }

                break;
            case Scenario.Rooms:
                var total = options.EffectiveConnections;
                for (var i = 0; i < total; i++)
                {
                    var r = i / options.EffectiveRoomSize;
                    if (r == rooms.Count)
                    {
                        rooms.Add($"bench-{runId}-room{r}");
                    }

                    connections.Add(new PlannedConnection(i % options.EffectiveRoomSize % targets, rooms[r], rooms[r], i));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Scenario, "Not a load scenario.");
        }

        return new LoadPlan(connections, rooms);
    }

    public int Senders => Connections.Count(c => c.SendsTo is not null);

    public int MembersOf(string room) => Connections.Count(c => c.Joins == room);
}

/// <param name="Target">Index of the target to connect to.</param>
/// <param name="Joins">The room it subscribes to, if any (then it receives).</param>
/// <param name="SendsTo">The room it sends to, if any.</param>
/// <param name="SenderId">Its sender id when it sends (dense from 0), else -1.</param>
internal sealed record PlannedConnection(int Target, string? Joins, string? SendsTo, int SenderId);
