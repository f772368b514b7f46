/* flourish serve: a local web app for what-if workshops. An HTTP server (GNU libmicrohttpd)
 * that serves one page built into the binary and the JSON API of serve_api.c. Safe by
 * default: it binds 127.0.0.1 unless --host says otherwise, every request needs the random
 * token of this start (constant-time comparison), the Host header must name the bound address
 * (against DNS rebinding), bodies are capped, and it reads no file but its scenario and writes
 * none. SIGINT and SIGTERM stop it cleanly. */
#define _GNU_SOURCE
#include "cli.h"
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const char *help_serve =
    "Usage: flourish serve SCENARIO [--port P] [--host ADDR] [--threads T]\n"
    "\n"
    "Starts a local web app for what-if workshops on the scenario and prints the one URL to\n"
    "open, http://127.0.0.1:P/?token=... (a fresh random token at every start). The page has\n"
    "each arm's assumptions as sliders and inputs, made from the scenario and its schema;\n"
    "as a value moves, the expected children per level, the flows between levels, the costs\n"
    "by budget holder and the cumulative net cost with its break-even are computed again in\n"
    "expectation mode. 'Monte Carlo' adds bands from replications (progress shown,\n"
    "cancellable); up to four what-ifs can be saved and compared; the what-if downloads as\n"
    "the scenario's YAML with the changed values, and its tables as CSV. The page works\n"
    "offline: it is built into the program. docs/serve.md documents the JSON API it uses.\n"
    "\n"
    "Every request needs the token (the token query parameter or the X-Flourish-Token\n"
    "header), and its Host header must name the address served. Request bodies are capped at\n"
    "64 KB. The server reads no file but SCENARIO and writes none; SIGINT (Ctrl-C) or SIGTERM\n"
    "stops it, cancelling Monte Carlo jobs in progress.\n"
    "\n"
    "Options:\n"
    "      --port P              port, 1 to 65535, or 0 for a free one (default 8765)\n"
    "      --host ADDR           IPv4 address to bind (default 127.0.0.1); any other is\n"
    "                            reachable from elsewhere and is warned about; browsers\n"
    "                            must use this address (the Host header is checked)\n"
    "  -t, --threads T           OpenMP threads of a Monte Carlo job (default: all cores);\n"
    "                            results are identical for any T\n"
    "      --max-replications N  the most replications a job may ask for (default 10000)\n"
    "      --max-jobs N          Monte Carlo jobs queued or running at once (default 4); one\n"
    "                            runs at a time\n"
    "  -h, --help                this help\n";

enum { BODY_CAP = 64 * 1024, TOKEN_BYTES = 16, POOL_THREADS = 4 };

typedef struct server {
  serve_state api;
  char token[2 * TOKEN_BYTES + 1];
  char host_ip[64];     /* the bound address as Host names it */
  unsigned port;
  int loopback;         /* bound to 127.0.0.1: localhost is accepted as Host too */
} server;

/* What one request gathered while MHD read its body. */
typedef struct request {
  char *body;
  size_t len;
  int too_big;
} request;

/* Equal strings, in time that depends on the length of the expected one only. */
static int token_equal(const char *given, const char *expected) {
  const size_t n = strlen(expected), g = given ? strlen(given) : 0;
  unsigned char diff = (unsigned char)(g != n);
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)((i < g ? given[i] : 0) ^ expected[i]);
  return diff == 0;
}

/* Whether the Host header names the address served: ADDR:PORT (and localhost:PORT when bound
 * to the loopback address). */
static int host_ok(const server *sv, const char *host) {
  char want[96];
  if (!host) return 0;
  snprintf(want, sizeof want, "%s:%u", sv->host_ip, sv->port);
  if (!strcmp(host, want)) return 1;
  snprintf(want, sizeof want, "localhost:%u", sv->port);
  return sv->loopback && !strcmp(host, want);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, serve_reply *r) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"", r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    free(r->body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; style-src "
                          "'unsafe-inline'; img-src data: blob:; connect-src 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  if (r->filename) {
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", r->filename);
    MHD_add_response_header(resp, "Content-Disposition", disp);
  }
  enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
  serve_reply r = {0};
  serve_error(&r, status, msg);
  return send_reply(c, &r);
}

/* The request once its body is read: checks, then the route. */
static enum MHD_Result answer(server *sv, struct MHD_Connection *c, const char *url,
                              const char *method, request *rq) {
  serve_reply r = {0};
  if (!host_ok(sv, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
    return send_error(c, 403, "the Host header does not name this server");
  const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Flourish-Token");
  if (!tok) tok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
  if (!token_equal(tok, sv->token))
    return send_error(c, 401, "missing or wrong token: open the URL that flourish serve printed");
  if (rq->too_big) return send_error(c, 413, "the request body is larger than 64 KB");
  const int get = !strcmp(method, "GET"), post = !strcmp(method, "POST"),
            del = !strcmp(method, "DELETE");
  if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
    if (!get) return send_error(c, 405, "the page is read with GET");
    r.status = 200;
    r.type = "text/html; charset=utf-8";
    r.len = cli_serve_page_len;
    r.body = malloc(r.len ? r.len : 1);
    if (!r.body) return send_error(c, 500, "out of memory");
    memcpy(r.body, cli_serve_page, r.len);
    return send_reply(c, &r);
  }
  if (!strcmp(url, "/api/scenario")) {
    if (!get) return send_error(c, 405, "/api/scenario is read with GET");
    serve_scenario(&sv->api, &r);
  } else if (!strcmp(url, "/api/expect")) {
    if (!post) return send_error(c, 405, "/api/expect takes POST");
    serve_expect(&sv->api, rq->body, rq->len, &r);
  } else if (!strcmp(url, "/api/yaml")) {
    if (!post) return send_error(c, 405, "/api/yaml takes POST");
    serve_yaml(&sv->api, rq->body, rq->len, &r);
  } else if (!strcmp(url, "/api/run")) {
    if (!post) return send_error(c, 405, "/api/run takes POST");
    serve_run_start(&sv->api, rq->body, rq->len, &r);
  } else if (!strncmp(url, "/api/run/", 9) && url[9] && !strchr(url + 9, '/')) {
    if (get) serve_run_get(&sv->api, url + 9, &r);
    else if (del) serve_run_delete(&sv->api, url + 9, &r);
    else return send_error(c, 405, "a job is read with GET and cancelled with DELETE");
  } else {
    return send_error(c, 404, "no such page or API path");
  }
  return send_reply(c, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  server *sv = cls;
  request *rq = *con_cls;
  (void)version;
  if (!rq) {
    if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
    *con_cls = rq;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > BODY_CAP) rq->too_big = 1;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!rq->too_big && rq->len + *upload_data_size <= BODY_CAP) {
      char *grown = realloc(rq->body, rq->len + *upload_data_size + 1);
      if (!grown) return MHD_NO;
      rq->body = grown;
      memcpy(rq->body + rq->len, upload_data, *upload_data_size);
      rq->len += *upload_data_size;
      rq->body[rq->len] = '\0';
    } else {
      rq->too_big = 1; /* the rest is read and dropped */
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  return answer(sv, c, url, method, rq);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  request *rq = *con_cls;
  (void)cls, (void)c, (void)toe;
  if (rq) {
    free(rq->body);
    free(rq);
    *con_cls = NULL;
  }
}

/* A fresh random token in hex. Returns 0, or -1 when the system gives no random bytes. */
static int make_token(char *out) {
  unsigned char b[TOKEN_BYTES];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  for (size_t i = 0; i < sizeof b; i++) sprintf(out + 2 * i, "%02x", b[i]);
  return 0;
}

typedef struct serve_args {
  const char *scenario, *host;
  uint64_t port, max_reps, max_jobs;
  int threads;
} serve_args;

static int parse_serve_args(int argc, char **argv, serve_args *a) {
  static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                       {"host", required_argument, NULL, 'H'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"max-replications", required_argument, NULL, 'R'},
                                       {"max-jobs", required_argument, NULL, 'J'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  uint64_t v;
  optind = 2;
  while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
    switch (c) {
    case 'p':
      if (!cli_parse_u64(optarg, 0, 65535, &a->port))
        return cli_usage_error("serve", "--port: expected 0 to 65535, found '%s'", optarg);
      break;
    case 'H': a->host = optarg; break;
    case 't':
      if (!cli_parse_u64(optarg, 1, 4096, &v))
        return cli_usage_error("serve", "--threads: expected 1 to 4096, found '%s'", optarg);
      a->threads = (int)v;
      break;
    case 'R':
      if (!cli_parse_u64(optarg, 1, 10000000, &a->max_reps))
        return cli_usage_error("serve", "--max-replications: expected 1 to 10000000, found '%s'",
                               optarg);
      break;
    case 'J':
      if (!cli_parse_u64(optarg, 1, 64, &a->max_jobs))
        return cli_usage_error("serve", "--max-jobs: expected 1 to 64, found '%s'", optarg);
      break;
    default: return cli_usage_error("serve", "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("serve", "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  a->scenario = argv[optind];
  return 0;
}

/* Serves until SIGINT or SIGTERM; returns the exit code. */
static int serve(server *sv, const serve_args *a) {
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)a->port);
  if (inet_pton(AF_INET, a->host, &addr.sin_addr) != 1)
    return cli_usage_error("serve", "--host: expected an IPv4 address such as 127.0.0.1, found '%s'",
                           a->host);
  snprintf(sv->host_ip, sizeof sv->host_ip, "%s", a->host);
  sv->loopback = !strcmp(a->host, "127.0.0.1");
  if (!sv->loopback)
    fprintf(stderr,
            "%s serve: warning: listening on %s, not 127.0.0.1: others who can reach this "
            "address and learn the token can use the server\n",
            cli_prog, a->host);
  if (make_token(sv->token) != 0) {
    fprintf(stderr, "%s serve: no random bytes for the token: %s\n", cli_prog, strerror(errno));
    return 1;
  }
  /* The signals are taken by sigwait below; every thread started from here blocks them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (serve_jobs_start(&sv->api) != 0) {
    fprintf(stderr, "%s serve: cannot start the worker thread\n", cli_prog);
    return 1;
  }
  /* The socket is bound here, so that the port (a free one for --port 0) is known before the
   * first request is read. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  struct sockaddr_in bound = {0};
  socklen_t blen = sizeof bound;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
    fprintf(stderr, "%s serve: cannot listen on %s:%u: %s\n", cli_prog, a->host,
            (unsigned)a->port, strerror(errno));
    if (fd >= 0) close(fd);
    serve_jobs_stop(&sv->api);
    return 1;
  }
  sv->port = ntohs(bound.sin_port);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, sv,
      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
      MHD_OPTION_NOTIFY_COMPLETED, on_done, sv, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "%s serve: cannot start the HTTP server on %s:%u\n", cli_prog, a->host,
            sv->port);
    close(fd);
    serve_jobs_stop(&sv->api);
    return 1;
  }
  printf("http://%s:%u/?token=%s\n", a->host, sv->port, sv->token);
  fflush(stdout);
  fprintf(stderr, "%s serve: serving %s; Ctrl-C stops\n", cli_prog, a->scenario);
  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {
  }
  fprintf(stderr, "%s serve: stopping (%s)\n", cli_prog, sig == SIGINT ? "SIGINT" : "SIGTERM");
  MHD_stop_daemon(d);
  serve_jobs_stop(&sv->api);
  return 0;
}

int cmd_serve(int argc, char **argv) {
  serve_args a = {.host = "127.0.0.1", .port = 8765, .max_reps = 10000, .max_jobs = 4};
  server sv = {0};
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_serve, stdout);
    return 0;
  }
  int rc = parse_serve_args(argc, argv, &a);
  if (rc) return rc;
  const fl_path_role paths[] = {{a.scenario, "SCENARIO", FL_PATH_INPUT}};
  if ((rc = cli_check_paths(paths, 1)) != 0) return rc;
  /* The scenario is read once and checked as run would check it. */
  fl_model *m = NULL;
  if (fl_scenario_load(a.scenario, &sv.api.sc, &err) != FL_OK) return cli_report(&err);
  if (fl_model_compile(sv.api.sc, &m, &err) != FL_OK) {
    fl_scenario_free(sv.api.sc);
    return cli_report(&err);
  }
  fl_model_free(m);
  sv.api.path = a.scenario;
  sv.api.threads = a.threads;
  sv.api.max_replications = (size_t)a.max_reps;
  sv.api.max_jobs = (size_t)a.max_jobs;
  rc = serve(&sv, &a);
  fl_scenario_free(sv.api.sc);
  return rc;
}
