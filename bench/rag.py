"""The document index at scale: retrieval quality on the golden set, chunks indexed per second, query latency
p50/p99 over 100,000 chunks, and recall@10 of the HNSW index against exact search, each beside its alternative.

1. Quality: the shipped corpus indexed as it ships; recall@5 and MRR on its golden set of hybrid search, of
   full text alone (Postgres ts_rank over the same candidates), of vector search alone, and of the fusion
   before tuning (RRF k 60, equal weights), with the model in float32; then hybrid for an index built with
   the model in bfloat16.
2. Indexing: the shipped corpus (copied ``--copies`` times) synced into an empty index: load, chunk, embed,
   write, with the sentence-transformers model (PyTorch, the installed weights) in float32 and in bfloat16
   (which runs on AMX tiles where the CPU has them). Reported as chunks/s, end to end.
3. Scale: ``--chunks`` synthetic chunks (``--vectors clustered``: the corpus' real MiniLM embeddings plus
   Gaussian noise, shaped like a real index; ``--vectors random``: uniform unit vectors, HNSW's worst case;
   60 words drawn from a vocabulary with Zipf weights for full text) loaded with
   COPY, then the HNSW index built serially (pgvector 0.6.2, CVE-2026-3172). Query latency of the hybrid
   search (what /ask runs: the question's terms, then the search; embedding excluded) beside the query it
   replaced, which ranked every chunk sharing a word with the question, and of vector search with HNSW vs
   exact scan.
4. Recall@10 of HNSW vs exact for ``--queries`` random queries at several ``hnsw.ef_search``.

Runs its own embedded PostgreSQL in a temporary home; nothing else is needed.

    .venv/bin/python bench/rag.py [--chunks 100000] [--queries 200] [--copies 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gyre.config import Settings
    from gyre.rag.evaluation import Evaluation
    from gyre.rag.indexer import TextEmbedder

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
NOISE = 0.03  # per dimension: a noisy copy keeps a cosine of about 0.86 with its centre


def vocabulary(extra: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """The corpus' words by frequency, then ``extra`` made-up terms (a 100k-chunk corpus has a far larger
    vocabulary than 34 documents), with Zipf weights (1/rank) for synthetic chunk text."""
    import collections
    import re

    counts = collections.Counter(
        w for p in (ROOT / "docs_corpus").rglob("*.*") for w in re.findall(r"[a-z]{3,}", p.read_text().lower())
    )
    words = np.array([w for w, _ in counts.most_common()] + [f"term{i:05d}" for i in range(extra)])
    weights = 1.0 / np.arange(1, len(words) + 1)
    return words, weights / weights.sum()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def start_postgres(home: Path):  # noqa: ANN201
    from gyre.services.process import free_port

    os.environ.update(
        {
            "GYRE_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            **{f"GYRE_{n}_PORT": str(free_port()) for n in ("POSTGRES", "REDIS", "MLFLOW", "AIRFLOW")},
        }
    )
    from gyre.config import get_settings
    from gyre.services.supervisor import Supervisor

    get_settings.cache_clear()
    supervisor = Supervisor(get_settings(), only=("postgres",), report=lambda _: None)
    supervisor.up()
    return supervisor


def copies_of_corpus(copies: int, folder: Path) -> Path:
    for i in range(copies):
        shutil.copytree(ROOT / "docs_corpus", folder / f"copy{i}", ignore=shutil.ignore_patterns("golden_set.json"))
        for path in (folder / f"copy{i}").rglob("*.*"):  # distinct bytes: identical files are indexed once
            mark = f"\n<!-- copy {i} -->\n" if path.suffix in (".md", ".html") else f"\n(copy {i})\n"
            path.write_text(path.read_text() + mark)
    return folder


def embedders() -> dict[str, tuple[Settings, TextEmbedder, float]]:
    """The configured model in float32 and in bfloat16, each with the settings of its own index version (the
    float type is part of the version), and the seconds it took to load."""
    from gyre.config import get_settings
    from gyre.rag.embedder import Embedder

    out = {}
    for dtype in ("float32", "bfloat16"):
        settings = get_settings().model_copy(update={"rag_embedding_dtype": dtype})
        started = time.perf_counter()
        embedder = Embedder(settings.rag_embedding_model, settings.rag_embedding_batch, dtype)
        out[dtype] = (settings, embedder, time.perf_counter() - started)
    return out


def bench_quality(models: dict[str, tuple[Settings, TextEmbedder, float]]) -> list[tuple[str, Evaluation]]:
    """Recall@5 and MRR on the golden set: hybrid, its parts and the untuned fusion, per embedder."""
    from gyre.rag import indexer
    from gyre.rag.evaluation import evaluate, load_golden_set

    golden = load_golden_set(ROOT / "docs_corpus" / "golden_set.json")
    rows = []
    for name, (settings, embedder, _) in models.items():
        report = indexer.sync(ROOT / "docs_corpus", settings, embedder=embedder)
        variants = {
            "hybrid": settings,
            "full text alone (ts_rank)": settings.model_copy(update={"rag_vector_weight": 0.0}),
            "vector alone": settings.model_copy(update={"rag_text_weight": 0.0}),
            "hybrid untuned (RRF k 60, 1:1)": settings.model_copy(
                update={"rag_rrf_k": 60, "rag_vector_weight": 1.0, "rag_text_weight": 1.0}
            ),
        }
        for label, variant in variants.items():
            if name == "float32" or label == "hybrid":
                rows.append((f"{label}, {name}", evaluate(report.version_id, golden, variant, embedder)))
    return rows


def bench_indexing(models: dict[str, tuple[Settings, TextEmbedder, float]], folder: Path) -> dict[str, dict[str, Any]]:
    """One sync of the copied corpus per embedder, each into an index version that holds only the corpus."""
    from gyre.rag import indexer

    out = {}
    for name, (settings, embedder, load_s) in models.items():
        report = indexer.sync(folder, settings, embedder=embedder)
        out[name] = {
            "version_id": report.version_id,
            "chunks": report.chunks_written,
            "sync_s": report.seconds,
            "chunks_per_s": report.chunks_written / report.seconds,
            "model_load_s": load_s,
        }
    return out


def corpus_embeddings(version_id: int) -> np.ndarray:
    from gyre.db import engine, query

    with engine().connect() as connection:
        rows = connection.execute(query("rag/chunk_embeddings.sql"), {"version_id": version_id}).scalars().all()
    return np.array([np.fromstring(row.strip("[]"), sep=",") for row in rows], dtype=np.float32)


def synthetic_vectors(rng: np.random.Generator, n: int, centers: np.ndarray | None) -> np.ndarray:
    """Unit vectors: uniformly random (``centers`` None: the worst case for HNSW, no neighbourhood structure),
    or real MiniLM chunk embeddings plus Gaussian noise (clusters shaped like a real corpus)."""
    if centers is None:
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    else:
        vectors = centers[rng.integers(len(centers), size=n)] + rng.normal(0, NOISE, (n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def load_synthetic(chunks: int, centers: np.ndarray | None, per_document: int = 100) -> tuple[int, float, float]:
    """A 'building' version holding ``chunks`` synthetic chunks, vacuumed and analyzed as a sync leaves them;
    returns (version, load s, index build and vacuum s)."""
    from pgvector.psycopg import register_vector

    from gyre.db import engine, query, sql_text
    from gyre.rag import indexer
    from gyre.rag.schema import ensure_schema

    ensure_schema()
    rng = np.random.default_rng(7)
    vocab, weights = vocabulary()
    with engine().begin() as connection:
        version = connection.execute(
            query("rag/insert_version.sql"),
            {"config_hash": "bench-synthetic", "embedding_model": "random", "chunk_words": 0, "chunk_overlap": 0},
        ).one()[0]
        documents = [
            {
                "version_id": version,
                "source": f"synthetic/{d:05d}.md",
                "content_hash": f"{d:064x}",
                "title": f"Synthetic {d}",
                "doc_type": "markdown",
                "category": ("runbook", "policy", "glossary", "howto")[d % 4],
                "team": "bench",
                "tags": [],
                "chunks": per_document,
            }
            for d in range(chunks // per_document)
        ]
        connection.execute(query("rag/insert_document.sql"), documents)
        connection.execute(query("rag/drop_hnsw.sql"))  # bulk load first, then one index build
    started = time.perf_counter()
    raw = engine().raw_connection()
    try:
        conn = raw.driver_connection
        register_vector(conn)
        with conn.cursor() as cursor, cursor.copy(sql_text("rag/copy_chunks.sql")) as copy:
            copy.set_types(["int4", "text", "int4", "text", "text", "text", "text", "text[]", "vector"])
            for start in range(0, chunks, 10_000):
                n = min(10_000, chunks - start)
                vectors = synthetic_vectors(rng, n, centers)
                words = rng.choice(vocab, size=(n, 60), p=weights)
                for i in range(n):
                    row = start + i
                    document = documents[row // per_document]
                    copy.write_row(
                        (
                            version,
                            document["source"],
                            row % per_document,
                            f"{document['title']} > Section {row % per_document}",
                            " ".join(words[i]),
                            document["category"],
                            "bench",
                            [],
                            vectors[i],
                        )
                    )
        conn.commit()
    finally:
        raw.close()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine().begin() as connection:
        connection.exec_driver_sql("set local maintenance_work_mem = '1GB'")
        connection.exec_driver_sql(sql_text("rag/schema.sql"))  # recreates the HNSW index, serially
    indexer.vacuum_analyze()  # as a sync ends
    return version, load_s, time.perf_counter() - started


def random_queries(n: int, centers: np.ndarray | None, seed: int = 11) -> np.ndarray:
    """Queries drawn like the data (a different seed)."""
    return synthetic_vectors(np.random.default_rng(seed), n, centers)


def vector_search(version: int, vector: np.ndarray, k: int, ef_search: int | None) -> tuple[list[int], float]:
    from gyre.db import engine, query
    from gyre.rag.embedder import as_pgvector

    params = {"version_id": version, "embedding": as_pgvector(vector), "k": k}
    with engine().begin() as connection:
        connection.execute(query("rag/custom_plans.sql"))
        if ef_search is None:
            connection.execute(query("rag/exact_scan.sql"))
        else:
            connection.execute(query("rag/set_ef_search.sql"), {"ef_search": str(ef_search)})
        started = time.perf_counter()
        rows = connection.execute(query("rag/vector_search.sql"), params).all()
        return [r.chunk_id for r in rows], (time.perf_counter() - started) * 1000


def hybrid_latency(version: int, queries: np.ndarray) -> tuple[list[float], list[float]]:
    """Per query, the hybrid search /ask runs, and the query it replaced with the same words and vector."""
    from gyre.config import get_settings
    from gyre.db import engine, query
    from gyre.rag.embedder import as_pgvector
    from gyre.rag.retrieval import filter_params, search

    settings = get_settings()
    rng = np.random.default_rng(5)
    vocab = np.array(sorted({w for w in vocabulary()[0] if not w.startswith("term")}))
    new, old = [], []
    for vector in queries:
        question = " ".join(rng.choice(vocab, size=6))  # analysts ask with specific words, not the common ones
        embedding = as_pgvector(vector)
        started = time.perf_counter()
        search(question, version_id=version, settings=settings, embedding=embedding)
        new.append((time.perf_counter() - started) * 1000)
        params = filter_params(None) | {
            "query": question,
            "embedding": embedding,
            "version_id": version,
            "candidates": settings.rag_candidates,
            "rrf_k": 60,
            "k": settings.rag_top_k,
        }
        started = time.perf_counter()
        with engine().begin() as connection:
            connection.execute(query("rag/set_ef_search.sql"), {"ef_search": str(settings.rag_hnsw_ef_search)})
            connection.execute(query("rag/rank_every_match.sql"), params).all()
        old.append((time.perf_counter() - started) * 1000)
    return new, old


def explain_plans(version: int, vector: np.ndarray) -> None:
    """EXPLAIN ANALYZE of both queries for one question, the vector literal shortened."""
    import re

    import sqlalchemy as sa

    from gyre.config import get_settings
    from gyre.db import engine, query, sql_text
    from gyre.rag.embedder import as_pgvector
    from gyre.rag.retrieval import filter_params, question_terms

    settings = get_settings()
    question = "chargeback deadline merchant dispute evidence window"
    params = filter_params(None) | {
        "query": question,
        "embedding": as_pgvector(vector),
        "version_id": version,
        "candidates": settings.rag_candidates,
        "text_scan": settings.rag_text_candidates,
        "rrf_k": settings.rag_rrf_k,
        "vector_weight": settings.rag_vector_weight,
        "text_weight": settings.rag_text_weight,
        "k": settings.rag_top_k,
    }
    for name in ("rag/rank_every_match.sql", "rag/hybrid_search.sql"):
        with engine().begin() as connection:
            connection.execute(query("rag/custom_plans.sql"))
            connection.execute(query("rag/set_ef_search.sql"), {"ef_search": str(settings.rag_hnsw_ef_search)})
            terms = question_terms(connection, question)
            explain = sa.text("explain (analyze, buffers, costs off) " + sql_text(name))
            plan = connection.execute(explain, params | terms)
            print(f"\nEXPLAIN ANALYZE {name}:")
            for (line,) in plan:
                print("  " + re.sub(r"\[[-0-9.,e]{40,}\]", "[...]", line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument(
        "--vectors",
        choices=("clustered", "random"),
        default="clustered",
        help="clustered: real MiniLM embeddings of the corpus plus noise; random: uniform unit vectors",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gyre-bench-rag-"))
    supervisor = start_postgres(work / "home")
    try:
        from gyre.config import get_settings
        from gyre.rag.embedder import embedding_dtype

        models = embedders()
        auto = embedding_dtype(get_settings().model_copy(update={"rag_embedding_dtype": "auto"}))
        print(f"the model's float type on this CPU ('auto'): {auto}")
        print("retrieval quality on docs_corpus/golden_set.json:")
        print(f"  {'retriever, embedder':<44}{'recall@5':>10}{'MRR':>8}")
        for label, result in bench_quality(models):
            print(f"  {label:<44}{result.recall_at_5:>10.3f}{result.mrr:>8.3f}")
        sys.stdout.flush()
        folder = copies_of_corpus(args.copies, work / "docs")
        indexing = bench_indexing(models, folder)
        print(f"\nindexing {args.copies} copies of the corpus (load, chunk, embed, write):")
        for name, row in indexing.items():
            print(
                f"  {name:<10} {row['chunks']} chunks in {row['sync_s']:.1f} s = {row['chunks_per_s']:.1f} chunks/s; "
                f"model load {row['model_load_s']:.1f} s"
            )
        ratio = indexing["bfloat16"]["chunks_per_s"] / indexing["float32"]["chunks_per_s"]
        print(f"  bfloat16 vs float32: {ratio:.2f}x the chunks/s")
        sys.stdout.flush()
        centers = corpus_embeddings(indexing["float32"]["version_id"]) if args.vectors == "clustered" else None
        version, load_s, build_s = load_synthetic(args.chunks, centers)
        print(
            f"\nsynthetic ({args.vectors} vectors): {args.chunks} chunks loaded with COPY in {load_s:.1f} s; "
            f"HNSW build (serial) and VACUUM ANALYZE {build_s:.1f} s"
        )
        queries = random_queries(args.queries, centers)
        for vector in queries[:10]:  # warm the caches
            vector_search(version, vector, 10, 100)
            vector_search(version, vector, 10, None)
        hybrid, every_match = hybrid_latency(version, queries)
        exact = [vector_search(version, v, 10, None) for v in queries]
        print(f"\nquery latency over {args.chunks} chunks, {args.queries} queries (ms):")
        print(f"  {'search':<44}{'p50':>9}{'p99':>9}{'recall@10':>11}")
        for label, times in (
            ("hybrid (candidates by the rarest words)", hybrid),
            ("hybrid before (ranks every match)", every_match),
        ):
            print(f"  {label:<44}{percentile(times, 50):>9.2f}{percentile(times, 99):>9.2f}")
        exact_p50, exact_p99 = percentile([t for _, t in exact], 50), percentile([t for _, t in exact], 99)
        print(f"  {'vector, exact scan':<44}{exact_p50:>9.2f}{exact_p99:>9.2f}{1.0:>11.3f}")
        rows = []
        for ef in (40, 100, 200):
            hnsw = [vector_search(version, v, 10, ef) for v in queries]
            recall = statistics.mean(len(set(h) & set(e)) / 10 for (h, _), (e, _) in zip(hnsw, exact, strict=True))
            p50, p99 = percentile([t for _, t in hnsw], 50), percentile([t for _, t in hnsw], 99)
            rows.append((ef, p50, p99, recall))
            print(f"  {f'vector, HNSW ef_search={ef}':<44}{p50:>9.2f}{p99:>9.2f}{recall:>11.3f}")
        print(
            f"\nhybrid: p50 {percentile(every_match, 50) / percentile(hybrid, 50):.1f}x, "
            f"p99 {percentile(every_match, 99) / percentile(hybrid, 99):.1f}x faster than ranking every match"
        )
        print("side by side, HNSW vs exact:")
        for ef, p50, p99, recall in rows:
            print(
                f"  ef_search={ef:<4} p50 {exact_p50 / p50:6.1f}x faster, p99 {exact_p99 / p99:6.1f}x faster, "
                f"recall@10 {recall:.3f} of exact"
            )
        explain_plans(version, queries[0])
    finally:
        supervisor.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
