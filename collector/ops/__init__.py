"""ops: what keeps the process observable and contained — structured ``logs``,
Prometheus ``metrics``, and ``confine`` (Landlock confinement of ``microx serve``)."""
