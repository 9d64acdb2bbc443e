"""Schema of the embedded index, and its migrations.

Shaped by measurement on the target machine (2 cores): a secondary B-tree row per feature value
caps ingest near 2,000 documents/s by a million documents, while one JSON row per document plus an
FTS5 posting list per document (hashed ``field=value`` tokens, contentless, ``detail=none``) keeps
6,000-9,000 documents/s, because FTS5 buffers postings and writes sorted segments instead of
inserting into a B-tree at random. So:

* ``docs``: one row per binary2 metadata document, the zstd-compressed JSON body (``bodies.py``)
  plus the few columns that queries filter or group on (binary, security, action, author, times,
  source, lineage), found by (binary, ``doc_key``), ``doc_key`` being a 64-bit hash of the document id;
* ``terms``: FTS5 posting lists, one token per distinct (field, lower-cased value) of a document;
  exact-case matches re-check the body; also the key tokens (hashes and tracking ids, looked up but
  never listed);
* ``vals``: the distinct values per field and security (for value listings, prefixes, counts);
* ``binaries``: one row per sha256 with its identification (hashes, size, type); sha256, ssdeep
  and the file types are indexed here, the other hashes are key tokens of the documents;
* ``securities``: the distinct security strings; a caller's access becomes an allow-list of their
  ids once per query;
* ``statuses``, ``plugins``, ``annotations``: the other document types.

A migration is a list of statements appended to ``MIGRATIONS``; ``user_version`` records how many
have run. Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3

_DOC_COLUMNS = ("binary_id, sec_id, action, author_category, author_name, author_version, ts, source_name,"
                " source_ts, depth, tsr, track_link, track_author, parent_track_author, parent_id")

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE securities (
            id INTEGER PRIMARY KEY,
            security TEXT NOT NULL UNIQUE,
            encoded TEXT NOT NULL
        )""",
        """CREATE TABLE binaries (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            md5 TEXT, sha1 TEXT, sha512 TEXT, ssdeep TEXT, tlsh TEXT,
            size INTEGER, file_format TEXT, file_extension TEXT, mime TEXT, magic TEXT
        )""",
        "CREATE INDEX binaries_md5 ON binaries (md5) WHERE md5 IS NOT NULL",
        "CREATE INDEX binaries_sha1 ON binaries (sha1) WHERE sha1 IS NOT NULL",
        "CREATE INDEX binaries_sha512 ON binaries (sha512) WHERE sha512 IS NOT NULL",
        "CREATE INDEX binaries_ssdeep ON binaries (ssdeep) WHERE ssdeep IS NOT NULL",
        "CREATE INDEX binaries_format ON binaries (file_format) WHERE file_format IS NOT NULL",
        "CREATE INDEX binaries_mime ON binaries (mime) WHERE mime IS NOT NULL",
        "CREATE INDEX binaries_magic ON binaries (magic) WHERE magic IS NOT NULL",
        """CREATE TABLE docs (
            id INTEGER PRIMARY KEY,
            doc_id TEXT NOT NULL UNIQUE,
            binary_id INTEGER NOT NULL,
            sec_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            author_category TEXT, author_name TEXT, author_version TEXT,
            ts INTEGER NOT NULL,
            source_name TEXT, source_ts INTEGER, depth INTEGER,
            tsr TEXT, track_link TEXT, track_author TEXT, parent_track_author TEXT,
            parent_id INTEGER,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX docs_binary ON docs (binary_id, ts)",
        "CREATE INDEX docs_parent ON docs (parent_id, binary_id) WHERE parent_id IS NOT NULL",
        "CREATE INDEX docs_source ON docs (source_name, source_ts) WHERE source_name IS NOT NULL",
        "CREATE INDEX docs_tsr ON docs (tsr) WHERE tsr IS NOT NULL",
        "CREATE INDEX docs_link ON docs (track_link) WHERE track_link IS NOT NULL",
        "CREATE VIRTUAL TABLE terms USING fts5(t, content='', detail='none', columnsize=0, tokenize='ascii')",
        """CREATE TABLE vals (
            field TEXT NOT NULL,
            lvalue TEXT NOT NULL,
            value TEXT NOT NULL,
            sec_id INTEGER NOT NULL,
            PRIMARY KEY (field, lvalue, value, sec_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE statuses (
            id TEXT PRIMARY KEY,
            sha256 TEXT, author TEXT, author_name TEXT, status TEXT,
            ts INTEGER NOT NULL, partition TEXT, sec_id INTEGER NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX statuses_sha256 ON statuses (sha256, ts)",
        "CREATE INDEX statuses_author ON statuses (author, ts)",
        "CREATE INDEX statuses_ts ON statuses (ts)",
        """CREATE TABLE plugins (
            id TEXT PRIMARY KEY,
            name TEXT, version TEXT, ts INTEGER NOT NULL, sec_id INTEGER NOT NULL,
            body TEXT NOT NULL
        )""",
        """CREATE TABLE annotations (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL, sha256 TEXT, feature_name TEXT, feature_value TEXT, tag TEXT,
            owner TEXT, ts INTEGER NOT NULL, state TEXT, sec_id INTEGER NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX annotations_tag ON annotations (type, tag)",
        "CREATE INDEX annotations_sha256 ON annotations (sha256) WHERE sha256 IS NOT NULL",
        "CREATE INDEX annotations_fv ON annotations (feature_name, feature_value) WHERE feature_name IS NOT NULL",
    ],
    # 2: purge tombstones (lifecycle/tombstones.py): ids of purged documents and when they were
    # purged, so a replay of the event log does not write them back.
    [
        "CREATE TABLE tombstones (doc_id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID",
    ],
    # 3: bodies stored zstd-compressed and rows found by a 64-bit hash of their id (bodies.py says
    # why: together they cut the index to a third and the cost of committing an ingest batch). The
    # rebuild keeps every row id, so the FTS5 postings stay valid. ``doc_key`` and ``pack_json`` are
    # SQL functions registered by ``bodies.register`` before migrating.
    [
        """CREATE TABLE docs_v3 (
            id INTEGER PRIMARY KEY,
            doc_key INTEGER NOT NULL,
            doc_id TEXT NOT NULL,
            binary_id INTEGER NOT NULL,
            sec_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            author_category TEXT, author_name TEXT, author_version TEXT,
            ts INTEGER NOT NULL,
            source_name TEXT, source_ts INTEGER, depth INTEGER,
            tsr TEXT, track_link TEXT, track_author TEXT, parent_track_author TEXT,
            parent_id INTEGER,
            body BLOB NOT NULL
        )""",
        f"""INSERT INTO docs_v3 (id, doc_key, doc_id, {_DOC_COLUMNS}, body)
            SELECT id, doc_key(doc_id), doc_id, {_DOC_COLUMNS}, pack_json(body) FROM docs""",
        "DROP TABLE docs",
        "ALTER TABLE docs_v3 RENAME TO docs",
        "CREATE INDEX docs_key ON docs (doc_key)",
        "CREATE INDEX docs_binary ON docs (binary_id, ts)",
        "CREATE INDEX docs_parent ON docs (parent_id, binary_id) WHERE parent_id IS NOT NULL",
        "CREATE INDEX docs_source ON docs (source_name, source_ts) WHERE source_name IS NOT NULL",
        "CREATE INDEX docs_tsr ON docs (tsr) WHERE tsr IS NOT NULL",
        "CREATE INDEX docs_link ON docs (track_link) WHERE track_link IS NOT NULL",
    ],
    # 4: fewer B-trees touched at random by ingest. md5, sha1, sha512 and the tracking ids become
    # FTS5 key tokens (terms.py says why); the FTS5 postings are rebuilt from the bodies, with the
    # ``doc_tokens`` SQL function the store registers before migrating. Rows are found by
    # (binary, 64-bit hash of the id): a new binary's documents go to the end of that index
    # instead of to a random page of it.
    [
        "DROP INDEX binaries_md5",
        "DROP INDEX binaries_sha1",
        "DROP INDEX binaries_sha512",
        "DROP INDEX docs_tsr",
        "DROP INDEX docs_link",
        "DROP INDEX docs_key",
        "CREATE INDEX docs_key ON docs (binary_id, doc_key)",
        "INSERT INTO terms (terms) VALUES ('delete-all')",
        "INSERT INTO terms (rowid, t) SELECT id, doc_tokens(body) FROM docs",
    ],
    # 5: datastream sha256s are raw hash tokens and no longer listed in ``vals`` (terms.py,
    # HASH_VALUE_FIELDS): their listing was a random B-tree insert for nearly every document.
    [
        "DELETE FROM vals WHERE field = 'datastreams.sha256'",
        "INSERT INTO terms (terms) VALUES ('delete-all')",
        "INSERT INTO terms (rowid, t) SELECT id, doc_tokens(body) FROM docs",
    ],
    # 6: ``vals`` rows are removed once no document holds them (listing.py); writers notice a
    # removal by the counter and stop trusting their cache of listed values. The rows left behind
    # by earlier deletes stay until the documents' next prune.
    [
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO counters (name, value) VALUES ('vals_pruned', 0)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; return the version it was at.

    Refuses a database written by a newer version of the metastore rather than guessing.
    """
    (current,) = db.execute("PRAGMA user_version").fetchone()
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the index was written by a newer metastore (schema {current}, this one knows {SCHEMA_VERSION})"
        )
    if current == SCHEMA_VERSION:
        return current
    # A migration that rebuilds a table drops the old copy after rewriting its rows into the new one;
    # zeroing every freed page of the old copy (secure_delete, on in Debian's SQLite) protects
    # nothing then, and on a 17 GB index it wrote 17 GB of zeros into the WAL.
    (secure,) = db.execute("PRAGMA secure_delete").fetchone()
    db.execute("PRAGMA secure_delete = FAST")
    try:
        for version in range(current, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
    finally:
        db.execute(f"PRAGMA secure_delete = {secure}")
    return current
