namespace RoomHub.Server.Internal.Engine;

/// <summary>Every Redis key RoomHub uses, built in one place under the configured prefix.</summary>
internal sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    /// <summary>Stream of a room's messages.</summary>
    public StackExchange.Redis.RedisKey History(string room) => $"{Prefix}:history:{{{room}}}";

    /// <summary>Sorted set of a room's members: member = connection id and user, score = expiry (unix ms).</summary>
    public StackExchange.Redis.RedisKey Presence(string room) => $"{Prefix}:presence:{{{room}}}";

    /// <summary>Hash of a session: its rooms (<c>r:{room}</c>) and when a connection of it was last seen (<c>seen</c>).</summary>
    public StackExchange.Redis.RedisKey Session(string owner, string session) => $"{Prefix}:session:{owner}:{session}";
}
