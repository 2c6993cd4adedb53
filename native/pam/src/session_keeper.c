/* waydesk-pam-session: holds one login's PAM session for as long as its desktop runs, as GDM's
 * session worker does. The server authenticates (in its own process) and starts this, as root,
 * for the session part:
 *
 *   waydesk-pam-session SERVICE USER RHOST TTY PASS -- PROGRAM [ARGS...]
 *
 * It opens the PAM session (pam_setcred, pam_open_session: pam_limits, pam_env, pam_systemd and
 * the like act here, on this process) and says on stdout how that went, in one line, before it
 * closes stdout: "opened" with the logind session id pam_systemd gave (empty without logind), or
 * "failed" with PAM's reason. Once its stdin has a line or has ended (the server has put it in
 * the session's cgroup) it starts PROGRAM (the compositor) as its child with the PAM environment
 * variables named in PASS (a comma-separated list; a trailing '*' matches a prefix) added to its
 * own, waits for it, then closes the session (pam_close_session, pam_setcred DELETE) and exits
 * with the child's status. It outlives the server: a desktop adopted by a restarted server still
 * has its PAM session closed when it ends. Every decision is the server's; this only holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The session part asks nothing: a module that prompts here fails, and the login with it. */
static int no_conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
	return PAM_CONV_ERR;
}

static volatile sig_atomic_t child_pid = 0;
static volatile sig_atomic_t stop_requested = 0;

/* SIGTERM and SIGHUP go to the desktop, which ends; the session is then closed as always. Before
 * the desktop is started, they mean: do not start it (the session is closed and we exit). */
static void forward(int sig) {
	if (child_pid > 0) kill(child_pid, sig);
	else stop_requested = sig;
}

/* The one status line, then stdout is /dev/null: the desktop must not hold the server's pipe. */
static void say(const char *what, const char *detail) {
	printf("%s %s\n", what, detail ? detail : "");
	fflush(stdout);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		close(null);
	}
}

static int passes(const char *entry, const char *list) {
	size_t name_len = strcspn(entry, "=");
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len > 0 && p[len - 1] == '*') {
			if (name_len >= len - 1 && strncmp(entry, p, len - 1) == 0) return 1;
		} else if (len == name_len && strncmp(entry, p, len) == 0) {
			return 1;
		}
		p += len;
		if (*p == ',') p++;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 8 || strcmp(argv[6], "--") != 0) {
		fprintf(stderr, "usage: waydesk-pam-session SERVICE USER RHOST TTY PASS -- PROGRAM [ARGS...]\n");
		return 2;
	}
	const char *service = argv[1], *user = argv[2], *rhost = argv[3], *tty = argv[4], *pass = argv[5];
	char **program = argv + 7;
	if (getuid() != 0) {
		fprintf(stderr, "waydesk-pam-session: must run as root (it opens PAM sessions)\n");
		say("failed", "the session keeper does not run as root");
		return 2;
	}
	/* from the start: a stop while PAM works or the server places us still closes the session */
	struct sigaction sa = {0};
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	struct pam_conv conv = {no_conversation, NULL};
	pam_handle_t *h = NULL;
	int rc = pam_start(service, user, &conv, &h);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "waydesk-pam-session: pam_start(%s, %s): %s\n", service, user, pam_strerror(h, rc));
		say("failed", pam_strerror(h, rc));
		return 3;
	}
	if (*rhost) pam_set_item(h, PAM_RHOST, rhost);
	if (*tty) pam_set_item(h, PAM_TTY, tty);
	pam_putenv(h, "XDG_SESSION_TYPE=wayland");
	pam_putenv(h, "XDG_SESSION_CLASS=user");
	rc = pam_setcred(h, PAM_ESTABLISH_CRED);
	if (rc == PAM_SUCCESS) {
		rc = pam_open_session(h, 0);
		if (rc != PAM_SUCCESS) pam_setcred(h, PAM_DELETE_CRED);
	}
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "waydesk-pam-session: could not open the PAM session of %s: %s\n", user, pam_strerror(h, rc));
		say("failed", pam_strerror(h, rc));
		pam_end(h, rc);
		return 3;
	}
	/* the child's environment: ours, then the PAM variables the server lets through */
	size_t n = 0;
	for (char **e = environ; *e; e++) n++;
	char **pam_env = pam_getenvlist(h);
	for (char **e = pam_env; e && *e; e++) n++;
	char **env = calloc(n + 1, sizeof(*env));
	size_t k = 0;
	for (char **e = environ; env && *e; e++) env[k++] = *e;
	for (char **e = pam_env; env && e && *e; e++) {
		if (!passes(*e, pass)) continue;
		size_t name_len = strcspn(*e, "=");
		/* a PAM variable replaces ours of the same name */
		size_t j = 0;
		for (; j < k; j++) if (strncmp(env[j], *e, name_len) == 0 && env[j][name_len] == '=') break;
		env[j == k ? k++ : j] = *e;
	}
	if (!env) {
		fprintf(stderr, "waydesk-pam-session: out of memory\n");
		say("failed", "out of memory");
		pam_close_session(h, 0);
		pam_setcred(h, PAM_DELETE_CRED);
		pam_end(h, PAM_BUF_ERR);
		return 3;
	}
	say("opened", pam_getenv(h, "XDG_SESSION_ID"));
	/* Having read "opened", the server puts this process in the session's cgroup (or gives the
	 * logind scope its limits), then writes a line (or closes this stdin): only then the desktop,
	 * so it is born inside. */
	char go;
	while (!stop_requested && read(STDIN_FILENO, &go, 1) < 0 && errno == EINTR) {}
	pid_t pid = stop_requested ? -2 : fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execve(program[0], program, env);
		fprintf(stderr, "waydesk-pam-session: cannot run %s: %s\n", program[0], strerror(errno));
		_exit(127);
	}
	int status = 0;
	if (pid == -2) {
		status = (128 + stop_requested) << 8;
	} else if (pid < 0) {
		fprintf(stderr, "waydesk-pam-session: fork: %s\n", strerror(errno));
		status = 127 << 8;
	} else {
		child_pid = pid;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
	}
	int closed = pam_close_session(h, 0);
	pam_setcred(h, PAM_DELETE_CRED);
	pam_end(h, closed);
	if (pam_env) {
		for (char **e = pam_env; *e; e++) free(*e);
		free(pam_env);
	}
	free(env);
	if (WIFEXITED(status)) return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
	return 1;
}
