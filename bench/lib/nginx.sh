# nginx as every bench runs it against fleetboot (sourced): sendfile, open_file_cache and
# reuseport, keep-alive without limits, no access log.

# nginx_conf DIR WORKERS LISTEN ROOT: writes DIR/nginx.conf, serving ROOT at / and at /files/
# (fleetboot's path for the same files).
nginx_conf() {
  local dir=$1 workers=$2 listen=$3 root=$4
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
worker_rlimit_nofile 40000;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 30000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  server { listen $listen reuseport backlog=16384; root $root; location /files/ { alias $root/; } }
}
EOF
}
