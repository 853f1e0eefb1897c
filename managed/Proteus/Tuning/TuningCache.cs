using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace Proteus.Tuning;

/// <summary>A tuned launch configuration and the times that chose it.</summary>
/// <param name="Launch">The configuration to run.</param>
/// <param name="TunedMs">Its median time when tuned.</param>
/// <param name="DefaultMs">The heuristic's median time, measured in the same run.</param>
/// <param name="TunedAt">When it was tuned.</param>
public sealed record TunedLaunch(LaunchConfig Launch, double TunedMs, double DefaultMs, DateTimeOffset TunedAt)
{
    /// <summary>Whether the heuristic was already best: its configuration is then run as the heuristic (no launch passed).</summary>
    public bool Heuristic { get; init; }

    /// <summary>The heuristic's time over the tuned time (1 when the heuristic was already best).</summary>
    [JsonIgnore]
    public double SpeedUp => TunedMs > 0 ? DefaultMs / TunedMs : 1;
}

/// <summary>One entry of a cache file.</summary>
/// <param name="Key">The problem bucket.</param>
/// <param name="Tuned">The launch tuned for it.</param>
public sealed record TuningCacheEntry(TuningKey Key, TunedLaunch Tuned);

/// <summary>The entries of one environment (a cache file keeps one section per environment it was written from).</summary>
/// <param name="Environment">Where the entries were tuned.</param>
/// <param name="Entries">The entries.</param>
public sealed record TuningCacheSection(TuningEnvironment Environment, IReadOnlyList<TuningCacheEntry> Entries);

/// <summary>
/// The persistent cache of tuned launches (SPEC §8): one JSON file, <see cref="FileName"/> in
/// <see cref="DefaultDirectory"/> unless a directory is given, with one section per
/// <see cref="TuningEnvironment"/>. A lookup sees only the entries of its own environment; the others
/// stay in the file, untouched, for the machines and builds they belong to.
/// <para>
/// Writers lose nothing to each other: every write takes a lock file (opened exclusively, retried) so
/// that one process or thread at a time re-reads the file, merges its entries in and replaces the file
/// atomically (a temporary file in the same directory, then a rename), so readers only ever see a whole
/// file. A corrupt file is reported once through <see cref="ProteusLibrary.Logger"/> and rebuilt. A
/// directory that cannot be written is reported once as well; the entries are then kept in this instance
/// only. No method throws for the file's sake: a cache that cannot be read is a cache that misses.
/// </para>
/// Thread-safe.
/// </summary>
public sealed class TuningCache
{
    /// <summary>The cache file's name inside the cache directory.</summary>
    public const string FileName = "tuning-cache.json";

    /// <summary>The format tag the file starts with; a file with another is treated as corrupt.</summary>
    public const string Format = "proteus-tuning-cache/1";

    /// <summary>How long a writer waits for the lock file before giving up on the write (with a warning).</summary>
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Lookups look at the file's time stamp at most this often, so that a lookup per call stays cheap.</summary>
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    private static readonly Lazy<TuningCache> Shared = new(() => new TuningCache());

    private readonly Lock _gate = new();
    private Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> _file = new();
    private readonly Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> _unsaved = new();
    private (DateTime Written, long Length)? _stamp;
    private long _checkedAt = long.MinValue;
    private bool _corruptReported;
    private bool _writeFailureReported;

    /// <summary>A cache in <paramref name="directory"/>, or in <see cref="DefaultDirectory"/> when null.</summary>
    /// <param name="directory">The directory holding the cache file; created on the first write.</param>
    public TuningCache(string? directory = null)
    {
        Directory = Path.GetFullPath(directory ?? DefaultDirectory);
        FilePath = Path.Combine(Directory, FileName);
    }

    /// <summary>The process's cache in <see cref="DefaultDirectory"/> (as it was when first used), which <see cref="FluxAttention"/> uses unless given another.</summary>
    public static TuningCache Default => Shared.Value;

    /// <summary>$PROTEUS_CACHE_DIR, else $XDG_CACHE_HOME/proteus, else ~/.cache/proteus.</summary>
    public static string DefaultDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("PROTEUS_CACHE_DIR") is { Length: > 0 } explicitDirectory)
            {
                return explicitDirectory;
            }
            if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg)
            {
                return Path.Combine(xdg, "proteus");
            }
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "proteus");
        }
    }

    /// <summary>The cache directory.</summary>
    public string Directory { get; }

    /// <summary>The cache file.</summary>
    public string FilePath { get; }

    private string LockPath => FilePath + ".lock";

    /// <summary>The launch tuned for <paramref name="key"/> under <paramref name="environment"/>, if any.</summary>
    /// <param name="environment">The environment of the caller (entries of any other are ignored).</param>
    /// <param name="key">The problem bucket.</param>
    /// <param name="tuned">The entry when found.</param>
    /// <returns>Whether an entry was found.</returns>
    public bool TryGet(TuningEnvironment environment, TuningKey key, [NotNullWhen(true)] out TunedLaunch? tuned)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            if (_checkedAt == long.MinValue || Stopwatch.GetElapsedTime(_checkedAt) >= RecheckInterval)
            {
                _checkedAt = Stopwatch.GetTimestamp();
                RefreshIfChanged();
            }
            tuned = null;
            return (_unsaved.TryGetValue(environment, out var local) && local.TryGetValue(key, out tuned))
                || (_file.TryGetValue(environment, out var saved) && saved.TryGetValue(key, out tuned));
        }
    }

    /// <summary>Records one tuned launch (see <see cref="PutAll"/>).</summary>
    /// <param name="environment">Where it was tuned.</param>
    /// <param name="key">The problem bucket.</param>
    /// <param name="tuned">The launch.</param>
    public void Put(TuningEnvironment environment, TuningKey key, TunedLaunch tuned) => PutAll(environment, [new TuningCacheEntry(key, tuned)]);

    /// <summary>
    /// Records tuned launches: under the lock file, re-reads the file, replaces the entries of the same
    /// environment and key, keeps every other, and replaces the file atomically. When the directory
    /// cannot be written, the entries are kept in this instance and the failure reported once.
    /// </summary>
    /// <param name="environment">Where they were tuned.</param>
    /// <param name="entries">The keys and launches.</param>
    public void PutAll(TuningEnvironment environment, IEnumerable<TuningCacheEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(entries);
        TuningCacheEntry[] added = entries.ToArray();
        lock (_gate)
        {
            Dictionary<TuningKey, TunedLaunch> local = SectionOf(_unsaved, environment);
            foreach (TuningCacheEntry entry in added)
            {
                local[entry.Key] = entry.Tuned;
            }
            Update(file =>
            {
                foreach ((TuningEnvironment unsavedEnvironment, Dictionary<TuningKey, TunedLaunch> unsaved) in _unsaved)
                {
                    Dictionary<TuningKey, TunedLaunch> section = SectionOf(file, unsavedEnvironment);
                    foreach ((TuningKey key, TunedLaunch tuned) in unsaved)
                    {
                        section[key] = tuned;
                    }
                }
            }, onSaved: _unsaved.Clear);
        }
    }

    /// <summary>Every section of the file, this environment's and the others' (what <c>proteus tune --show</c> prints).</summary>
    /// <returns>The sections, entries unsaved in this instance included.</returns>
    public IReadOnlyList<TuningCacheSection> ReadAll()
    {
        lock (_gate)
        {
            RefreshIfChanged();
            var merged = Copy(_file);
            foreach ((TuningEnvironment environment, var local) in _unsaved)
            {
                var section = SectionOf(merged, environment);
                foreach ((TuningKey key, TunedLaunch tuned) in local)
                {
                    section[key] = tuned;
                }
            }
            return merged.Select(s => new TuningCacheSection(s.Key, s.Value.Select(e => new TuningCacheEntry(e.Key, e.Value)).ToArray())).ToArray();
        }
    }

    /// <summary>Removes every entry of every environment: the file is replaced by an empty one (under the lock).</summary>
    /// <returns>The number of entries removed.</returns>
    public int Clear()
    {
        lock (_gate)
        {
            int removed = 0;
            _unsaved.Clear();
            Update(file =>
            {
                removed = file.Values.Sum(section => section.Count);
                file.Clear();
            }, onSaved: () => { });
            return removed;
        }
    }

    // ---- the file ------------------------------------------------------------------------------------

    /// <summary>Under the lock file: re-read, change, write atomically. A failure is reported once and leaves the file as it was.</summary>
    private void Update(Action<Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>>> change, Action onSaved)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using FileStream? held = AcquireLock();
            if (held is null)
            {
                ReportWriteFailure($"the lock file {LockPath} stayed taken for {LockTimeout.TotalSeconds:0} s");
                return;
            }
            Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> file = ReadFile(out _) ?? new();
            change(file);
            WriteAtomically(file);
            _file = file;
            _stamp = Stamp();
            onSaved();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ReportWriteFailure(e.Message);
        }
    }

    private FileStream? AcquireLock()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive lock between processes too (flock on Unix, a share mode on Windows).
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (clock.Elapsed < LockTimeout)
            {
                Thread.Sleep(Random.Shared.Next(1, 8));
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    private void WriteAtomically(Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> file)
    {
        string temporary = Path.Combine(Directory, $".{FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(stream, ToDocument(file), Json);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, FilePath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>Reloads the file when its stamp changed since it was last read or written here.</summary>
    private void RefreshIfChanged()
    {
        (DateTime, long)? stamp = Stamp();
        if (stamp == _stamp)
        {
            return;
        }
        Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>>? read = ReadFile(out bool corrupt);
        _stamp = stamp;
        _file = read ?? new();
        if (corrupt)
        {
            // Rebuilt now, so that the next process does not trip over it too (the unsaved entries go in with it).
            Update(file => { }, onSaved: _unsaved.Clear);
        }
    }

    private (DateTime Written, long Length)? Stamp()
    {
        try
        {
            var info = new FileInfo(FilePath);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The file's sections; empty when it does not exist; null (reported once) when it is corrupt or unreadable.</summary>
    private Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>>? ReadFile(out bool corrupt)
    {
        corrupt = false;
        string text;
        try
        {
            if (!File.Exists(FilePath))
            {
                return new();
            }
            text = File.ReadAllText(FilePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ReportWriteFailure($"it cannot be read: {e.Message}");
            return null;
        }
        try
        {
            CacheDocument document = JsonSerializer.Deserialize<CacheDocument>(text, Json)
                ?? throw new JsonException("the file holds null");
            if (document.Format != Format)
            {
                throw new JsonException($"format \"{document.Format}\", not \"{Format}\"");
            }
            var file = new Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>>();
            foreach (CacheSection section in document.Sections)
            {
                Dictionary<TuningKey, TunedLaunch> entries = SectionOf(file, section.Environment);
                foreach (TuningCacheEntry entry in section.Entries)
                {
                    entries[entry.Key] = entry.Tuned;
                }
            }
            return file;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or InvalidOperationException)
        {
            corrupt = true;
            if (!_corruptReported)
            {
                _corruptReported = true;
                ProteusLog.Write(LogLevel.Warning, $"The tuning cache {FilePath} is corrupt and is rebuilt ({e.Message}).");
            }
            return null;
        }
    }

    private void ReportWriteFailure(string why)
    {
        if (!_writeFailureReported)
        {
            _writeFailureReported = true;
            ProteusLog.Write(LogLevel.Warning,
                $"The tuning cache {FilePath} cannot be written ({why}); tuned launches are kept in this process only.");
        }
    }

    private static Dictionary<TuningKey, TunedLaunch> SectionOf(
        Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> file, TuningEnvironment environment)
    {
        if (!file.TryGetValue(environment, out var section))
        {
            section = new Dictionary<TuningKey, TunedLaunch>();
            file[environment] = section;
        }
        return section;
    }

    private static Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> Copy(
        Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> file) =>
        file.ToDictionary(s => s.Key, s => new Dictionary<TuningKey, TunedLaunch>(s.Value));

    private static CacheDocument ToDocument(Dictionary<TuningEnvironment, Dictionary<TuningKey, TunedLaunch>> file) => new(
        Format,
        file.Select(s => new CacheSection(s.Key, s.Value.Select(e => new TuningCacheEntry(e.Key, e.Value)).ToList())).ToList());

    /// <summary>The file's layout: the format tag, then one section per environment.</summary>
    private sealed record CacheDocument(string Format, List<CacheSection> Sections);

    private sealed record CacheSection(TuningEnvironment Environment, List<TuningCacheEntry> Entries);
}
