using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal;

internal sealed class RoomHubOptionsValidator : IValidateOptions<RoomHubOptions>
{
    private const int MaxMessageBytesCeiling = 16 * 1024 * 1024;
    private const int MaxHistoryLength = 100_000;

    public ValidateOptionsResult Validate(string? name, RoomHubOptions options)
    {
        var failures = new List<string>();

        if (options.MaxMessageBytes is < 1 or > MaxMessageBytesCeiling)
        {
            failures.Add($"RoomHub:MaxMessageBytes must be between 1 and {MaxMessageBytesCeiling}; it is {options.MaxMessageBytes}.");
        }

        if (options.MaxReceiveMessageSize is { } size && size < options.MaxMessageBytes)
        {
            failures.Add($"RoomHub:MaxReceiveMessageSize ({size}) must be at least RoomHub:MaxMessageBytes ({options.MaxMessageBytes}).");
        }

        if (string.IsNullOrWhiteSpace(options.ChannelPrefix) || options.ChannelPrefix.Any(char.IsWhiteSpace))
        {
            failures.Add("RoomHub:ChannelPrefix must be a non-empty word without spaces.");
        }

        // Redis trims a room's history in one script, which blocks Redis while it runs (about 3.5 µs per entry dropped):
        // at this bound, a whole history ageing out at once holds Redis up for about a third of a second, once.
        if (options.History.MaxLength is < 1 or > MaxHistoryLength)
        {
            failures.Add($"RoomHub:History:MaxLength must be between 1 and {MaxHistoryLength}; it is {options.History.MaxLength}.");
        }

        if (options.History.MaxAnswerBytes < 1024)
        {
            failures.Add($"RoomHub:History:MaxAnswerBytes must be at least 1024; it is {options.History.MaxAnswerBytes}.");
        }

        if (options.History.MaxAge < TimeSpan.FromSeconds(1))
        {
            failures.Add("RoomHub:History:MaxAge must be at least one second.");
        }

        if (options.Presence.Ttl < TimeSpan.FromSeconds(1))
        {
            failures.Add("RoomHub:Presence:Ttl must be at least one second.");
        }

        if (options.Sessions.Ttl < TimeSpan.FromSeconds(1) || options.Sessions.ReplayWindow < TimeSpan.Zero)
        {
            failures.Add("RoomHub:Sessions:Ttl must be at least one second and RoomHub:Sessions:ReplayWindow not negative.");
        }

        if (options.SendPipelineDepth < 1)
        {
            failures.Add("RoomHub:SendPipelineDepth must be at least 1.");
        }

        if (options.MaxSendsInFlight < 1)
        {
            failures.Add("RoomHub:MaxSendsInFlight must be at least 1.");
        }

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainWaves < 1)
        {
            failures.Add("RoomHub:DrainTimeout must not be negative and RoomHub:DrainWaves must be at least 1.");
        }

        // Zero turns the pings off; a timeout can be infinite but not zero or negative. Anything else would pass the
        // start and then fail every legacy connection at its upgrade.
        if (options.Legacy.KeepAliveInterval < TimeSpan.Zero
            || (options.Legacy.KeepAliveTimeout <= TimeSpan.Zero && options.Legacy.KeepAliveTimeout != Timeout.InfiniteTimeSpan))
        {
            failures.Add("RoomHub:Legacy:KeepAliveInterval must not be negative (0 turns pings off) and RoomHub:Legacy:KeepAliveTimeout must be positive.");
        }

        if (options.RedisOperationTimeout < TimeSpan.FromMilliseconds(100))
        {
            failures.Add("RoomHub:RedisOperationTimeout must be at least 100 ms.");
        }

        if (options.UsesRedis)
        {
            try
            {
                RedisUrl.Parse(options.Redis!);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                failures.Add($"RoomHub:Redis (or REDIS_URL) is not usable: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
