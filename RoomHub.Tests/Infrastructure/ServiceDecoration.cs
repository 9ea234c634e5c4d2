using Microsoft.Extensions.DependencyInjection;

namespace RoomHub.Tests.Infrastructure;

internal static class ServiceDecoration
{
    /// <summary>
    /// Wraps the <typeparamref name="TService"/> that RoomHub registered by type in a decorator made by
    /// <paramref name="decorate"/>, which is then what the server uses and what a test resolves to steer it. Call after
    /// <c>AddRoomHub()</c>.
    /// </summary>
    public static void Decorate<TService, TDecorator>(this IServiceCollection services, Func<TService, TDecorator> decorate)
        where TService : class
        where TDecorator : class, TService
    {
        var registered = services.Last(d => d.ServiceType == typeof(TService)).ImplementationType
            ?? throw new InvalidOperationException($"{typeof(TService).Name} is not registered by type.");
        services.AddSingleton(provider => decorate((TService)ActivatorUtilities.CreateInstance(provider, registered)));
        services.AddSingleton<TService>(provider => provider.GetRequiredService<TDecorator>());
    }
}
