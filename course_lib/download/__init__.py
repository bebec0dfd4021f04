"""Verified, resumable downloads and safe extraction, for datasets and network weights alike.

Modules: trust (checksums, trust on first use), transfer (resumable HTTP), archives (safe, all-or-nothing).
"""
from .archives import (COMPLETE_MARKER, ArchiveError, ArchiveTooLarge, UnsafeArchiveError, completed, extract,
                       staged_folder)
from .transfer import TooLarge, download
from .trust import ChecksumMismatch, DownloadError, TrustStore, check_file, content_problem, record_first_use

__all__ = ["COMPLETE_MARKER", "ArchiveError", "ArchiveTooLarge", "ChecksumMismatch", "DownloadError", "TooLarge",
           "TrustStore", "UnsafeArchiveError", "check_file", "completed", "content_problem", "download", "extract",
           "record_first_use", "staged_folder"]
