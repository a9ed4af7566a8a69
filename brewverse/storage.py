"""Static files in production: hashed names, compressed copies, served by whitenoise.

The scripts are plain ES modules that import each other; rewriting those imports to the hashed names
makes every module cacheable forever, with no way for a new app.js to load an old api.js.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
