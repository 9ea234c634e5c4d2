using System.Runtime.InteropServices;

namespace RoomHub.Server.Internal.Drain;

/// <summary>
/// Turns SIGTERM (and Ctrl+C) into a graceful drain before the host stops. The default console lifetime stops the host
/// at once, and SignalR closes every connection the moment the host starts stopping, all together; here the drain runs
/// first and the host stops after it. A second signal stops at once.
/// </summary>
internal sealed partial class DrainingHostLifetime(
    GracefulDrain drain,
    IHostApplicationLifetime lifetime,
    ILogger<DrainingHostLifetime> logger) : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signals;

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }

        return Task.CompletedTask;
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) > 1)
        {
            LogStopNow(logger, context.Signal);
            lifetime.StopApplication();
            return;
        }

        LogDrainSignal(logger, context.Signal);
        _ = Task.Run(async () =>
        {
            try
            {
                await drain.DrainAsync(lifetime.ApplicationStopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (!Cancellation.Requested(ex))
            {
                LogDrainFailed(logger, ex);
            }
            finally
            {
                lifetime.StopApplication();
            }
        });
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    [LoggerMessage(5010, LogLevel.Information, "{Signal} received: draining before stopping.")]
    private static partial void LogDrainSignal(ILogger logger, PosixSignal signal);

    [LoggerMessage(5011, LogLevel.Warning, "{Signal} received again: stopping now.")]
    private static partial void LogStopNow(ILogger logger, PosixSignal signal);

    [LoggerMessage(5012, LogLevel.Error, "The drain failed; stopping now.")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);
}
