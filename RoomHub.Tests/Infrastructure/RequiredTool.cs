namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// Finds an external program the suite needs (redis-server, node). A missing tool fails the test with the command
/// that installs it: the suite never skips a real-infrastructure test silently.
/// </summary>
internal static class RequiredTool
{
    public static string Find(string name, string installHint)
    {
        // Debian installs daemons (haproxy) in /usr/sbin, which a non-root PATH may lack.
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        foreach (var directory in path.Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"'{name}' is required by this test but is not on PATH. Install it: {installHint}");
    }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RoomHub.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Could not find the repository root (RoomHub.sln) above " + AppContext.BaseDirectory);
    }
}
