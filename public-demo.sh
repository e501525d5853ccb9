#!/usr/bin/env bash
# Serve Optimizer Playground as a public demo (README: "Deploy a public demo").
#   ./public-demo.sh                 public mode, port $PORT (default 8501) on all interfaces
#   OPT_PLAYGROUND_TRAINING=on ./public-demo.sh   also let visitors train, within deploy.py's limits
# Every OPT_PLAYGROUND_* limit can be overridden the same way (deploy.py lists them).
set -euo pipefail
cd "$(dirname "$0")"
export OPT_PLAYGROUND_PUBLIC=1
# one thread per computation: sessions are threads of one process (app.py sets torch's count too)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export STREAMLIT_SERVER_HEADLESS=true \
       STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
       STREAMLIT_GLOBAL_DEVELOPMENT_MODE=false \
       STREAMLIT_SERVER_RUN_ON_SAVE=false \
       STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
       STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none \
       STREAMLIT_CLIENT_TOOLBAR_MODE=viewer \
       STREAMLIT_SERVER_MAX_UPLOAD_SIZE=1 \
       STREAMLIT_SERVER_MAX_MESSAGE_SIZE=50 \
       STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=true
python -c "import deploy; deploy.settings()"  # a typo in an OPT_PLAYGROUND_* variable stops here, by name
exec python -m streamlit run app.py --server.port "${PORT:-8501}" --server.address "${ADDRESS:-0.0.0.0}" "$@"
