using System.Text.RegularExpressions;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Keeps <c>access_token</c> query values out of every log line. Browsers cannot set headers on a WebSocket, so the
/// token rides in the URL, and ASP.NET Core logs request URLs ("Request starting … ?access_token=…") before any
/// middleware runs. Every logger provider is wrapped, so the value is replaced whatever logs it.
/// </summary>
internal static partial class AccessTokenRedaction
{
    public const string Redacted = "[redacted]";

    [GeneratedRegex(@"(access_token=)[^&\s""']*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TokenInQuery();

    public static bool MayContainToken(string? text) => text is not null && text.Contains("access_token=", StringComparison.OrdinalIgnoreCase);

    public static string Redact(string text) => MayContainToken(text) ? TokenInQuery().Replace(text, "$1" + Redacted) : text;

    /// <summary>Wraps every <see cref="ILoggerProvider"/> registered so far.</summary>
    public static void WrapLoggerProviders(IServiceCollection services)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType != typeof(ILoggerProvider) || descriptor.IsKeyedService)
            {
                continue;
            }

            services[i] = ServiceDescriptor.Singleton<ILoggerProvider>(sp => new RedactingLoggerProvider(descriptor switch
            {
                { ImplementationInstance: ILoggerProvider instance } => instance,
                { ImplementationFactory: { } factory } => (ILoggerProvider)factory(sp),
                _ => (ILoggerProvider)ActivatorUtilities.CreateInstance(sp, descriptor.ImplementationType!),
            }));
        }
    }

    private sealed class RedactingLoggerProvider(ILoggerProvider inner) : ILoggerProvider, ISupportExternalScope
    {
        public ILogger CreateLogger(string categoryName) => new RedactingLogger(inner.CreateLogger(categoryName));

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (inner as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

        public void Dispose() => inner.Dispose();
    }

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            var values = state as IReadOnlyList<KeyValuePair<string, object?>>;
            if (!MayContainToken(message) && (values is null || !values.Any(v => MayContainToken(v.Value?.ToString()))))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            var redacted = new RedactedState(Redact(message), values?.Select(v => new KeyValuePair<string, object?>(
                v.Key, v.Value is not null && MayContainToken(v.Value.ToString()) ? Redact(v.Value.ToString()!) : v.Value)).ToArray() ?? []);
            inner.Log(logLevel, eventId, redacted, exception, static (s, _) => s.Message);
        }
    }

    private sealed class RedactedState(string message, KeyValuePair<string, object?>[] values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message { get; } = message;

        public int Count => values.Length;

        public KeyValuePair<string, object?> this[int index] => values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)values).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => values.GetEnumerator();

        public override string ToString() => Message;
    }
}
