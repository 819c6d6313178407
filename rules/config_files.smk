# Parse-time set-up before Snakemake reads config.yaml: the library on sys.path (its light modules, no torch), the
# config files checked by sing (file, line, column, the line itself and a likely cause; a key given twice, which
# Snakemake would silently overwrite), and stop(), which ends an invocation on a config mistake with its message
# alone (no traceback: the mistake is in the config, not in the code).
import sys
from pathlib import Path

from snakemake.logging import logger

# this file's folder's parent holds the library (also when sing is used as a Snakemake `module`)
sys.path.insert(0, str(Path(str(workflow.current_basedir)).parent / "src"))

from sing.io.config_files import ConfigFileError, check_config_files


def stop(message):
    logger.error(f"Error: {message}")
    raise SystemExit(1)


try:
    # --configfile files that do not parse stop Snakemake before the workflow is read; `sing check-config FILE`
    # names their line (docs/config.md)
    check_config_files(
        [
            *(["config.yaml"] if Path("config.yaml").exists() else []),
            *workflow.config_settings.configfiles,
        ]
    )
except ConfigFileError as e:
    stop(str(e))
