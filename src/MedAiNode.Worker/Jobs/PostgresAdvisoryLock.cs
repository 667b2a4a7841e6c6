using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace MedAiNode.Worker.Jobs;

/// <summary>
/// A cross-node lock held by an open transaction (<c>pg_advisory_xact_lock</c>): released on dispose, and by the server
/// when the holding process dies and its connection closes, so a crash never leaves it behind.
/// </summary>
public sealed class PostgresAdvisoryLock : IDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private PostgresAdvisoryLock(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the lock on <paramref name="resource"/>.</summary>
    /// <exception cref="TimeoutException">Another holder kept it longer than <paramref name="timeout"/>.</exception>
    public static PostgresAdvisoryLock Acquire(string connectionString, string resource, TimeSpan timeout)
    {
        var connection = new NpgsqlConnection(connectionString);
        NpgsqlTransaction? transaction = null;
        try
        {
            connection.Open();
            transaction = connection.BeginTransaction();
            using var command = new NpgsqlCommand(
                $"SET LOCAL lock_timeout = {(long)Math.Max(1, timeout.TotalMilliseconds)}; SELECT pg_advisory_xact_lock(@key)",
                connection, transaction);
            command.Parameters.AddWithValue("key", Key(resource));
            command.CommandTimeout = (int)Math.Ceiling(timeout.TotalSeconds) + 30; // the server's lock_timeout answers first
            command.ExecuteNonQuery();
            return new PostgresAdvisoryLock(connection, transaction);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            transaction?.Dispose();
            connection.Dispose();
            throw new TimeoutException($"The lock on '{resource}' was not obtained within {timeout}.", e);
        }
        catch
        {
            transaction?.Dispose();
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A stable 64-bit key for the resource name (advisory locks are keyed by bigint).</summary>
    public static long Key(string resource) =>
        BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(resource)));

    public void Dispose()
    {
        try { _transaction.Commit(); }
        finally
        {
            _transaction.Dispose();
            _connection.Dispose();
        }
    }
}
