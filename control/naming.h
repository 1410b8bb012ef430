/*
 * naming: the generated hostnames of CONTRACT §1, as pure functions on bytes.
 *
 * Every generated host is ONE DNS label under the configured domain:
 *
 *   stable       {project}-{service}-{nanoid}        e.g. my-app-web-m2x8k9n4
 *   stable, N≥2  {project}-{service}-{nanoid}-{N}    e.g. my-app-web-m2x8k9n4-2
 *   deployment   {project}-{service}-{sha7}          e.g. my-app-web-a1b2c3d
 *                                                     (git SHA "A1B2C3D4E5")
 *   deploy, N≥2  {project}-{service}-{sha7}-{N}      e.g. my-app-web-a1b2c3d-3
 *
 * and the FQDN is "{label}.{domain}", e.g. my-app-web-m2x8k9n4.hostess.run.
 *
 * The pieces:
 *   - project, service: naming_label_normalise(): ASCII lower case; every run of bytes
 *     outside [a-z0-9] (symbols, spaces, '-', '_', '.', any non-ASCII byte) becomes one
 *     '-'; no leading or trailing '-'. "My App!" → "my-app", "Über__Shop" → "ber-shop",
 *     "--Web--" → "web". An empty result ("", "---", "日本") is an error.
 *   - nanoid: 8 characters of [0-9a-z] from getrandom(2) by rejection sampling (bytes
 *     ≥ 252 are redrawn, the rest map by b % 36), so every symbol has probability 1/36.
 *     Generated once per (project, environment, service) and persisted by the caller.
 *   - sha7: the first 7 hex digits of the deployment's git SHA, lower case.
 *   - fallback7 (a deployment without a SHA): 7 characters derived from the deployment
 *     id by a fixed hash (see naming_fallback7()); the first character is always in
 *     [g-z], so a fallback never looks like a sha7 of the same service.
 *   - port suffix: "-{N}" for the N-th public port when N ≥ 2; nothing for port 1.
 *
 * Length (RFC 1035 §2.3.4: a label is at most 63 octets, a name at most 253 in text).
 * When "{project}-{service}-{id}{suffix}" would exceed 63 octets, the id and the suffix
 * are never cut; project is shortened first and then service, by this rule:
 *   budget = 63 - (2 + len(id) + len(suffix))       octets left for project + service
 *   1. if len(project) + len(service) ≤ budget, nothing is cut;
 *   2. project := its first max(1, budget - len(service)) characters, then any '-' left
 *      at the end of that prefix is removed;
 *   3. if still too long, service := its first max(1, budget - len(project)) characters,
 *      then any trailing '-' is removed;
 *   4. if even a 1-character project and service do not fit, -ENAMETOOLONG (impossible
 *      with an 8-character id and a port below 10^6, which leave 63 - 17 = 46 octets).
 * Because trailing '-' are removed, a shortened label may be one octet under 63.
 * Example: a 60-character project "aaa…a", service "web", id "m2x8k9n4":
 *   budget = 63 - 10 = 53, project keeps 53 - 3 = 50 characters → a{50}-web-m2x8k9n4 (63).
 *
 * Collisions are NOT this module's business. Different inputs can give the same label:
 * project "a-b" + service "c" and project "a" + service "b-c" both give "a-b-c-{id}";
 * two long projects sharing their first 50 characters shorten to the same prefix; two
 * deployment ids may hash to the same fallback7. The model (control) must detect a label
 * already owned by another service and refuse with 409 naming the owner (CONTRACT §1).
 *
 * Everything here is stateless and thread-safe; outputs are caller-owned buffers and are
 * always NUL-terminated on success. Errors are negative errno values (STYLE §9).
 */
#ifndef HOSTESS_CONTROL_NAMING_H
#define HOSTESS_CONTROL_NAMING_H

#include <stddef.h>

#define NAMING_LABEL_MAX  63    /* octets in one DNS label (RFC 1035 §2.3.4) */
#define NAMING_FQDN_MAX   253   /* octets in a dotted name without the trailing dot */
#define NAMING_NANOID_LEN 8     /* [0-9a-z]{8} */
#define NAMING_SHA7_LEN   7     /* also the length of a fallback7 */
#define NAMING_SHA_MIN    7     /* hex digits accepted by naming_sha7() */
#define NAMING_SHA_MAX    64    /* SHA-256 object names */

/* Normalises the project or service name in[0..len) (any bytes, not NUL-terminated) into
 * out, NUL-terminated. The result is never longer than len. Returns its length (> 0);
 * -EINVAL when the result is empty (len 0, only separators, only non-ASCII bytes);
 * -ENOSPC when out (cap bytes) cannot hold the result and its NUL. Nothing is truncated
 * here: shortening to fit a label is naming_host_label()'s job. */
int naming_label_normalise(const char *in, size_t len, char *out, size_t cap);

/* Fills out with NAMING_NANOID_LEN characters of [0-9a-z] from getrandom(2), uniformly
 * (rejection sampling), and a NUL. May block only if the kernel's pool is not yet
 * initialised (early boot). Returns 0, or -errno from getrandom (e.g. -ENOSYS); on error
 * out holds an empty string. */
int naming_nanoid_generate(char out[NAMING_NANOID_LEN + 1]);

/* 1 when s[0..len) is exactly NAMING_NANOID_LEN characters of [0-9a-z], else 0 (upper
 * case is rejected: a nanoid supplied by the orchestrator is used verbatim). */
int naming_nanoid_valid(const char *s, size_t len);

/* Writes the first 7 hex digits of the git SHA sha[0..len), lowercased, and a NUL into
 * out. sha must be NAMING_SHA_MIN..NAMING_SHA_MAX hex digits (either case). Returns 0, or
 * -EINVAL (too short, too long, or a non-hex byte); out is then an empty string. */
int naming_sha7(const char *sha, size_t len, char out[NAMING_SHA7_LEN + 1]);

/* Writes the 7-character stand-in for a sha7 of a deployment without a git SHA, and a
 * NUL, derived only from deployment_id[0..len) (any bytes, len may be 0). The output is
 * persisted in URLs, so this rule is frozen (pinned by fixed vectors in the unit test):
 *   h = FNV-1a-64 over the bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3);
 *   h = MurmurHash3's fmix64(h)  (h ^= h>>33; h *= 0xff51afd7ed558ccd; h ^= h>>33;
 *                                 h *= 0xc4ceb9fe1a85ec53; h ^= h>>33);
 *   v = h mod (20 * 36^6);
 *   out[0] = "ghijklmnopqrstuvwxyz"[v / 36^6], out[1..6] = v mod 36^6 in base 36 over
 *   "0123456789abcdefghijklmnopqrstuvwxyz", most significant digit first, zero padded.
 * All arithmetic is on uint64_t, so it is the same on every platform. The leading letter
 * in [g-z] keeps fallbacks and real sha7s of one service apart; two ids that hash alike
 * are a collision for the model's 409 rule. Always succeeds. */
void naming_fallback7(const char *deployment_id, size_t len, char out[NAMING_SHA7_LEN + 1]);

/* Builds the label "{project}-{service}-{id}", plus "-{port_n}" when port_n ≥ 2, into out
 * (cap bytes), NUL-terminated, shortening project and then service as the rule at the top
 * of this file says. project and service are NUL-terminated and already normalised (as
 * naming_label_normalise() outputs: non-empty, [a-z0-9-], no leading, trailing or double
 * '-'); id is a NUL-terminated nanoid, sha7 or fallback7 (non-empty [0-9a-z]), never cut.
 * Returns the label length (≤ NAMING_LABEL_MAX); -EINVAL when an input is not of that
 * form; -ENAMETOOLONG when even 1-character project and service do not fit; -ENOSPC when
 * cap is too small for the label and its NUL (NAMING_LABEL_MAX + 1 always suffices). */
int naming_host_label(char *out, size_t cap, const char *project, const char *service,
                      const char *id, unsigned port_n);

/* Writes "{label}.{domain}" and a NUL into out (cap bytes). label is a NUL-terminated
 * label (1..NAMING_LABEL_MAX octets, no '.'); domain is the configured base domain as
 * given (non-empty, no leading or trailing '.'), e.g. "hostess.run". Returns the length
 * (≤ NAMING_FQDN_MAX); -EINVAL for an empty or over-long label, a label containing '.',
 * or an empty or dot-edged domain; -ENAMETOOLONG when the name would exceed
 * NAMING_FQDN_MAX; -ENOSPC when cap is too small (NAMING_FQDN_MAX + 1 always suffices). */
int naming_host_fqdn(char *out, size_t cap, const char *label, const char *domain);

#endif
