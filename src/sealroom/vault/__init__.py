"""The image vault: content checks and safe decoding at ingest, envelope encryption, blob storage.

Submodules: ``sniff`` (real type by content), ``decode`` (limits and decoding), ``envelope`` (per-image
data keys, AES-256-GCM), ``blobstore`` (ciphertext storage). Import from them directly; this package
imports nothing heavy on its own.
"""
