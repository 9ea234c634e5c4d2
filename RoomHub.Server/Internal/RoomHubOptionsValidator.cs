using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal;

internal sealed class RoomHubOptionsValidator : IValidateOptions<RoomHubOptions>
{
    private const int MaxMessageBytesCeiling = 16 * 1024 * 1024;

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
