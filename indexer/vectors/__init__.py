"""The FAISS index of song vectors: kinds (flat, IVF, HNSW), and its files on disk."""
