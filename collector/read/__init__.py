"""read: the analysts' side. ``query`` is the read-only SQL endpoint and ``sqlguard`` its
check of every statement; ``analysis`` the ranked friction queries; ``report`` and
``reportpage`` the report as a file and as a served page."""
