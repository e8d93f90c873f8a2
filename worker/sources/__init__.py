"""Where articles come from: seed files on disk and RSS/Atom feeds over HTTP."""
