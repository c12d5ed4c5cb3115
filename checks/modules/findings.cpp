#include "checks/modules/findings.hpp"

#include <algorithm>
#include <stdexcept>

namespace mailready::checks {

const std::vector<FindingInfo>& finding_catalog() {
  static const std::vector<FindingInfo> catalog = [] {
    std::vector<FindingInfo> c = {
        {"auth.no-answer", "A login gets no answer", Severity::critical,
         "The endpoint greeted and TLS came up, but the login command got no answer before "
         "the timeout. A phone waits the same way and then reports the account as not "
         "reachable: for the user the mail path is down. Behind a gateway or proxy this is "
         "usually the gateway waiting on a backend (the mail server or the directory) whose "
         "packets a firewall between the DMZ and the inside drops.",
         "Check that the gateway reaches the mail server and the directory through the inner "
         "firewall (IMAP, SMTP, LDAP), and the gateway's log for the login."},
        {"auth.plaintext-before-tls", "Passwords can be sent before TLS", Severity::critical,
         "PLAIN, LOGIN or the IMAP LOGIN command is offered on a connection without TLS. A "
         "client (or a phone set to not use SSL) will send the password in the clear, where "
         "anyone on the path can read it.",
         "Offer password mechanisms only after STARTTLS (Dovecot: disable_plaintext_auth = yes; "
         "Postfix: smtpd_tls_auth_only = yes), or only on implicit-TLS ports."},
        {"auth.no-iphone-mechanism", "No mechanism an iPhone can be set to use", Severity::critical,
         "None of Password (PLAIN / LOGIN / IMAP LOGIN), MD5 Challenge-Response (CRAM-MD5), "
         "NTLM or HTTP MD5 Digest (DIGEST-MD5) is offered, so no iPhone Authentication setting "
         "can log in.",
         "Enable PLAIN and LOGIN after TLS (Dovecot: auth_mechanisms = plain login; Postfix "
         "through Dovecot SASL), or CRAM-MD5 / NTLM where policy requires them."},
        {"auth.failed", "A login was refused", Severity::critical,
         "The server refused the login with the given user and password for this mechanism. "
         "Critical when no mechanism works on the endpoint (the phone cannot log in); a warning "
         "when another one does (set the phone's Authentication to that one).",
         "Check the user name and password; read the server's reply in the evidence: "
         "[AUTHENTICATIONFAILED] / 535 5.7.8 mean wrong credentials, [UNAVAILABLE] / 454 4.7.0 "
         "mean the directory or backend did not answer."},
        {"auth.accepts-bad-password", "A wrong password was accepted", Severity::critical,
         "The server accepted a login with a deliberately wrong password. Anyone who knows a "
         "user name can log in.",
         "Fix the passdb (no 'nopassword', no allow-all); check the gateway's authentication "
         "against the directory."},
        {"auth.server-unverified", "The server did not prove it knows the password",
         Severity::critical,
         "A SCRAM login succeeded without a valid server signature (the v= of RFC 5802). SCRAM's "
         "point is mutual authentication: a server that cannot sign may be an impostor in the path.",
         "Check what answers on this port (a proxy that terminates SASL?) and the server's SCRAM "
         "implementation."},
        {"dns.unresolved", "The host name does not resolve", Severity::critical,
         "The name the phones are configured with has no A or AAAA record, so no device can "
         "connect at all. Phones resolve the name through the carrier's or the Wi-Fi's "
         "resolver, so it must be in public DNS (or in the internal DNS for internal-only "
         "rollouts).",
         "Publish an A (and ideally AAAA) record for the host, or correct the host name in the "
         "account settings or configuration profile."},
        {"dns.private-address", "The host resolves only to private or loopback addresses",
         Severity::warning,
         "Every address of the host is loopback, RFC 1918 private, link-local, unique-local "
         "IPv6 or carrier-grade NAT space. A phone on a cellular network cannot reach such an "
         "address; only devices on the internal network (or a VPN) can. Pass --from-inside "
         "when you run mailready on the internal network on purpose.",
         "Publish the public address of the firewall / secure gateway in public DNS (split "
         "horizon), or make sure the phones reach the network over VPN."},
        {"imap.idle-broken", "The IMAP server does not keep to IDLE", Severity::critical,
         "While mailready waited in INBOX for its probe message, the server did not answer "
         "IDLE with a continuation request, or did not end IDLE with a tagged reply after "
         "DONE (RFC 2177). The iPhone keeps an IDLE open for push mail: against this server "
         "new mail shows up late or not at all, and the session hangs until it times out. "
         "Whether the probe was delivered is unknown (the mailbox could not be watched).",
         "Check what answers on this port (a proxy or load balancer that does not pass IDLE "
         "through, or cuts idle connections), and the server's IDLE settings (Dovecot: "
         "imap_idle_notify_interval)."},
        {"imap.no-sent-folder", "No Sent mailbox", Severity::warning,
         "The account has no mailbox marked \\Sent (RFC 6154 SPECIAL-USE) and none named like "
         "one. The iPhone stores a copy of every sent message in the Sent mailbox; without it "
         "sent mail exists only on the device that sent it.",
         "Create a Sent mailbox and mark it (Dovecot: namespace inbox { mailbox Sent { "
         "special_use = \\Sent; auto = subscribe } })."},
        {"port.closed", "The port refuses connections", Severity::info,
         "The TCP connection was refused (RST): nothing listens on the port, or a firewall "
         "rejects it. For IMAP on 993 the phone cannot fetch mail; for a submission port the "
         "phone falls back to the next port (see submission.fallback).",
         "Open the port on the firewall and point it at the gateway or mail server, or start "
         "the service that should listen there."},
        {"port.filtered", "The port does not answer", Severity::info,
         "No answer came before the timeout: a firewall silently drops the packets. The phone "
         "waits for its own timeout before it tries anything else, which users see as a hang.",
         "Allow the port on the firewall in front of the gateway, or make the firewall reject "
         "instead of drop so clients fail fast."},
        {"port.unreachable", "The address is unreachable", Severity::info,
         "The network reported the host or network unreachable (ICMP unreachable, no route).",
         "Check routing and firewall rules between the client network and the host."},
        {"protocol.no-greeting", "The server accepts connections but says nothing",
         Severity::critical,
         "The TCP (and TLS) connection succeeded but no greeting came before the timeout, or "
         "the server closed the connection without one. A mail client waits for the greeting "
         "and gives up.",
         "Check that the right service listens on the port (and not, say, a TLS port answered "
         "by a plain service or the reverse), and that the server is not overloaded."},
        {"protocol.unexpected-greeting", "The port does not speak the expected protocol",
         Severity::critical,
         "Something answers on the port, but not with an IMAP '* OK' greeting or an SMTP 220 "
         "banner (for example a web server, or a plain-text service on a TLS port).",
         "Point the port at the IMAP or SMTP service (check the firewall's port forwarding "
         "and the gateway's listeners)."},
        {"protocol.closed-after-starttls", "The server goes silent after STARTTLS",
         Severity::critical,
         "The STARTTLS handshake succeeded, but the server then closed the connection or did "
         "not answer the first command over TLS (CAPABILITY / EHLO). A phone gets no further "
         "than the handshake: no login, no mail. Often a TLS-terminating proxy that does not "
         "pass the session on, or a server that crashes on TLS.",
         "Check the server's log for the session after the handshake, and what sits between "
         "the phones and the server (a proxy that ends STARTTLS must forward the session)."},
        {"protocol.ehlo-failed", "The SMTP server greets but does not answer EHLO",
         Severity::critical,
         "After its 220 greeting the server gave no usable reply to EHLO: none before the "
         "timeout, a reply longer than mailready reads (8 KiB per line, 256 lines), one that "
         "is not SMTP, or a refusal. Phones (and every current client) open with EHLO and "
         "learn STARTTLS and AUTH from its reply; without it they cannot send. A warning on "
         "port 25.",
         "Check the server's EHLO settings and what sits in front of it (an SMTP proxy or "
         "firewall 'fixup' that rewrites EHLO replies breaks them)."},
        {"protocol.limit-exceeded", "A server's reply is larger than any real server's",
         Severity::warning,
         "A reply held more than mailready keeps of one kind: more than 128 EHLO keywords or 64 "
         "AUTH mechanisms, more than 256 IMAP capabilities (or one longer than 256 bytes). The "
         "rest was dropped so that no server can make mailready spend unbounded memory or CPU. "
         "Other limits end the session with an error instead: a line longer than 8 KiB, 256 "
         "lines in one SMTP reply, 10,000 untagged IMAP responses or 4 MiB in one reply, a "
         "literal over 1 MiB, 16 MiB on one session.",
         "Check what answers on this port; a real server advertising this much is misconfigured "
         "(or it is not the server you think)."},
        {"protocol.service-refused", "The server refuses service", Severity::critical,
         "The server answered with a refusal instead of a greeting: an SMTP 5xx banner "
         "(RFC 5321 §3.1: no SMTP service here) or an IMAP '* BYE'.",
         "Read the server's words in the evidence; check access rules for the client network "
         "(postscreen, smtpd_client_restrictions, login_trusted_networks)."},
        {"rate-limited", "The server is rate-limiting this client", Severity::warning,
         "The server answered 421 or an enhanced status code 4.7.x, or closed with a 'too "
         "many connections' message: it limits connections or commands per client address. "
         "mailready stops on this endpoint instead of producing a cascade of failures; the "
         "results for it are incomplete.",
         "Wait and run again with fewer concurrent connections (--per-host 1), or add the "
         "monitoring host to the server's allow list."},
        {"tls.starttls-injection", "Bytes arrive between STARTTLS and the TLS handshake",
         Severity::critical,
         "After its reply to STARTTLS and before the TLS handshake the server sent more data. "
         "A client that does not discard it reads it as if it had come over TLS: this is the "
         "STARTTLS command-injection flaw (RFC 3207 §4.2, CVE-2011-0411 and its kin), in the "
         "server or in a box on the path that injects. mailready discarded the bytes.",
         "Update the server (or the proxy / firewall doing SMTP or IMAP inspection on the "
         "path): it must send nothing after the STARTTLS reply until the handshake."},
        {"tls.handshake-failed", "The TLS handshake failed", Severity::critical,
         "The TLS handshake (implicit TLS on 993/465, or after STARTTLS) did not complete. "
         "The phone cannot connect securely.",
         "Check the server's TLS configuration: certificate and key files, enabled protocol "
         "versions (TLS 1.2 or later) and ciphers."},
        {"roundtrip.not-submitted", "The probe message was not accepted", Severity::critical,
         "Logged in on the submission port the phone uses, the server did not accept the probe "
         "message (its reply is in the evidence): phones cannot send.",
         "Read the reply: 5.7.1 is a sender or relay policy (smtpd_sender_login_maps, "
         "reject_sender_login_mismatch), 4.x.x a temporary problem of the MTA or its backend."},
        {"roundtrip.not-delivered", "The probe message never arrived", Severity::critical,
         "The server accepted the probe message, but it did not reach the INBOX before the "
         "deadline: the MTA queues, defers or loses mail after accepting it.",
         "Check the MTA's queue (postqueue -p) and log for the probe's tag; check delivery to "
         "the mail server (LMTP / local delivery) and the transport maps."},
        {"roundtrip.slow", "Delivery is slow", Severity::warning,
         "The probe arrived, but later than the --slow-delivery threshold. Users see sent mail "
         "appear late, or replies arrive before what they answer.",
         "Look for content filters, greylisting or a backed-up queue between submission and "
         "the mailbox."},
        {"smtp.auth-not-required", "Submission accepts mail without AUTH", Severity::critical,
         "A submission port (587 or 465) accepted MAIL FROM and RCPT TO without a login. Anyone "
         "who reaches it can send mail as your users.",
         "Require authentication on submission (Postfix: smtpd_recipient_restrictions = "
         "permit_sasl_authenticated, reject in the submission service of master.cf)."},
        {"smtp.open-relay", "The server relays mail for anyone", Severity::critical,
         "Without logging in, the server accepted a recipient in a domain it does not serve. "
         "Spammers find such servers within hours and the domain lands on block lists.",
         "Relay only for authenticated users and your own domains (Postfix: "
         "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
         "reject_unauth_destination; keep mynetworks to the hosts that need it)."},
        {"submission.fallback-465", "Phones will send through port 465", Severity::info,
         "Port 587 does not give a working SMTP greeting, so a phone falls back to 465 "
         "(implicit TLS), which works. This is fine, but 587 with STARTTLS is what Apple's "
         "guide names first.",
         "Open submission on port 587 (STARTTLS and AUTH) if you want phones to use the "
         "guide's first choice."},
        {"submission.fallback-25", "Phones will send through port 25", Severity::warning,
         "Neither 587 nor 465 gives a working SMTP greeting, so a phone falls back to port "
         "25. Carriers and public Wi-Fi often block 25, and it is the least secure choice.",
         "Open submission on port 587 (STARTTLS, AUTH required) and/or 465 (implicit TLS) on "
         "the firewall and the gateway."},
        {"submission.unreachable", "Phones cannot send mail", Severity::critical,
         "None of the submission ports (587, 465, 25 in the phone's order) gives a working "
         "SMTP greeting: outgoing mail fails.",
         "Open port 587 (STARTTLS, AUTH required) on the firewall and the gateway, and make "
         "sure the MTA listens there."},
        // --- TLS sessions and certificates (checks/tls; rules in checks/tls/chain.cpp) ---
        {"tls.none", "The endpoint offers no TLS", Severity::critical,
         "The server does not offer TLS on this endpoint: no implicit TLS on 993/465, or no "
         "STARTTLS in the capabilities of 143/587/25. A phone with \"Use SSL\" on (the default "
         "for new accounts) cannot connect; with it off, the password and every message cross "
         "the network in the clear.",
         "Enable TLS on the endpoint (implicit TLS on 993 and 465, STARTTLS on 587) with a "
         "certificate for the host name the phones use."},
        {"tls.weak-cipher", "The negotiated cipher is weaker than 128 bits", Severity::critical,
         "The cipher the server chose has fewer than 128 secret bits (export, DES, 3DES or "
         "NULL ciphers). Apple's \"iPhone and IMAP\" guide asks for at least 128-bit ciphers; "
         "weaker ones are broken or close to it.",
         "Restrict the server's cipher list to ciphers of 128 bits or more (Mozilla's "
         "intermediate configuration, or OpenSSL \"HIGH:!aNULL:!MD5:!3DES\")."},
        {"tls.legacy-protocol", "The server accepts TLS 1.0 or 1.1", Severity::warning,
         "The server completes handshakes with TLS 1.0 and/or TLS 1.1, which RFC 8996 "
         "deprecates. Phones use TLS 1.2 or 1.3; keeping the old versions only helps "
         "downgrade attacks and very old clients.",
         "Set the server's minimum protocol to TLS 1.2 (Dovecot ssl_min_protocol = TLSv1.2; "
         "Postfix smtpd_tls_protocols = >=TLSv1.2)."},
        {"tls.no-tls13", "The server does not support TLS 1.3", Severity::info,
         "The server negotiates at most TLS 1.2. Phones work with TLS 1.2, but TLS 1.3 is "
         "faster to connect (one round trip less) and drops the legacy cipher suites.",
         "Enable TLS 1.3 on the server (OpenSSL 1.1.1 or later; do not cap the maximum "
         "protocol version)."},
        {"cert.untrusted", "The certificate chain does not lead to a trusted root",
         Severity::critical,
         "Verification of the server's chain failed: it ends at a CA certificate that is not "
         "in the trust store (a private CA, or a public CA whose intermediate is missing), or "
         "OpenSSL rejected it for another reason it names in the evidence. A phone shows "
         "\"Cannot Verify Server Identity\" and, for a managed account, does not connect.",
         "Install a certificate from a CA the phones trust, or install your private root on "
         "the phones with a configuration profile (and test with --ca-file); if the chain's "
         "top certificate is an intermediate, configure the server to send its issuer too."},
        {"cert.self-signed", "The server's certificate is self-signed", Severity::critical,
         "The server's certificate is its own issuer: no CA vouches for it, so no phone trusts "
         "it unless that very certificate is installed on the phone. Users who are asked to "
         "\"Trust\" it learn to accept any certificate, including an attacker's.",
         "Replace the certificate with one from a public CA (e.g. ACME / Let's Encrypt), or "
         "issue it from a private CA whose root you install on the phones by configuration "
         "profile."},
        {"cert.incomplete-chain", "The server does not send its intermediate certificates",
         Severity::critical,
         "The server sends its leaf certificate but not the intermediate CA certificate(s) "
         "that connect it to a root. mailready's rule: the server sent no certificate that "
         "issued its last certificate, and that last certificate is not a CA (so the chain "
         "cannot end at a root); or verification succeeded only because this machine's store "
         "supplied an intermediate for a publicly trusted chain. Phones hold roots, not "
         "intermediates: some clients work by luck (cached or fetched intermediates), others "
         "fail, which is why it looks intermittent.",
         "Configure the server with the full chain file: leaf first, then each intermediate "
         "(Dovecot ssl_cert = <fullchain.pem; Postfix smtpd_tls_chain_files with key, leaf "
         "and intermediates)."},
        {"cert.expired", "A certificate in the chain has expired", Severity::critical,
         "A certificate in the chain (the message names which: leaf, intermediate or root) is "
         "past its notAfter date. Phones refuse the connection.",
         "Renew the named certificate, install it with its current chain, and reload the "
         "server; automate renewal (ACME) so it does not happen again."},
        {"cert.not-yet-valid", "A certificate in the chain is not valid yet", Severity::critical,
         "A certificate's notBefore date is in the future. Usually a clock is wrong (on the "
         "CA, the server or the machine running mailready), or a freshly issued certificate "
         "was back-dated incorrectly. Phones refuse it until that date.",
         "Check the clocks (NTP) on the CA, the server and this machine; reissue the "
         "certificate with a correct start date if needed."},
        {"cert.expires-soon", "A certificate expires soon", Severity::warning,
         "A certificate in the chain expires within the warning window (--cert-warn-days, 30 "
         "days by default). When it expires, every phone stops connecting at once.",
         "Renew the named certificate now and install it with its chain; check that automatic "
         "renewal runs and that the server reloads after it."},
        {"cert.hostname-mismatch", "The certificate is not valid for the host name",
         Severity::critical,
         "The host name the phones use does not match any subjectAltName of the leaf "
         "certificate (RFC 6125: DNS names only, a wildcard covers exactly one left-most "
         "label; an IP address must be an iPAddress entry). Phones never use the subject CN "
         "(Apple HT210176), so a name only in the CN does not count.",
         "Issue a certificate whose subjectAltName lists the exact host name the phones are "
         "configured with (or a wildcard for its parent domain), or change the phones' host "
         "name to one the certificate covers."},
        {"cert.weak-key", "A certificate has a weak key", Severity::critical,
         "The leaf or an intermediate CA certificate has an RSA key shorter than 2048 bits or "
         "an EC key shorter than 256 bits. Apple (HT210176) requires RSA keys of 2048 bits or "
         "more on TLS server certificates and issuing CAs; iOS 13 and later reject the "
         "connection. Root certificates are not checked (they are trusted by being in the "
         "store).",
         "Reissue the certificate with an RSA 2048-bit (or larger) or ECDSA P-256 key; for an "
         "intermediate, switch to a chain from the CA that uses a strong intermediate."},
        {"cert.weak-signature", "A certificate is signed with SHA-1 or MD5", Severity::critical,
         "The leaf or an intermediate certificate is signed with SHA-1 or MD5. Apple "
         "(HT210176) requires SHA-2 family hashes in the signature algorithm of TLS server "
         "certificates and issuing CAs; SHA-1-signed certificates are no longer trusted for "
         "TLS. A root's own self-signature does not matter and is not checked.",
         "Reissue the certificate signed with SHA-256 (or stronger), and use a chain whose "
         "intermediates are SHA-2 signed."},
        {"cert.apple-no-san", "The certificate has no subjectAltName", Severity::critical,
         "The leaf certificate has no subjectAltName DNS name or IP address. Apple (HT210176) "
         "requires the server's name in the subjectAltName extension and no longer trusts "
         "names in the CommonName, so iOS 13 and later reject it for every host name.",
         "Reissue the certificate with a subjectAltName listing every host name the phones "
         "use (e.g. openssl req -addext \"subjectAltName=DNS:mail.example.com\")."},
        {"cert.apple-no-server-auth-eku", "The certificate lacks the serverAuth extended key usage",
         Severity::critical,
         "Apple (HT210176) requires TLS server certificates issued on or after 2019-07-01 "
         "(notBefore) to carry an ExtendedKeyUsage extension containing id-kp-serverAuth. "
         "mailready does not count anyExtendedKeyUsage as meeting it, since the requirement "
         "names serverAuth. iOS 13 and later reject such certificates.",
         "Reissue the certificate with extendedKeyUsage = serverAuth (for OpenSSL: "
         "-addext \"extendedKeyUsage=serverAuth\")."},
        {"cert.apple-validity-too-long", "The certificate's validity is too long for Apple",
         Severity::critical,
         "Apple limits the validity of TLS server certificates: 825 days or fewer for those "
         "issued on or after 2019-07-01 (HT210176), and 398 days or fewer for those issued on "
         "or after 2020-09-01 that chain to a root in Apple's trust store (HT211025; roots "
         "added by the user or an MDM profile are exempt from the 398-day rule). A day is "
         "86,400 s and a part day counts as a whole day, measured from notBefore to notAfter. "
         "Phones reject longer-lived certificates.",
         "Reissue the certificate with a validity within the limit (398 days for public CAs, "
         "825 for private ones), and renew it on a schedule."},
        {"cert.cabf-validity", "The certificate exceeds the CA/Browser Forum's maximum validity",
         Severity::info,
         "The CA/Browser Forum Baseline Requirements shorten the maximum validity of publicly "
         "trusted server certificates: 200 days for certificates issued from 2026-03-15, 100 "
         "days from 2027-03-15, 47 days from 2029-03-15 (counted from notBefore through "
         "notAfter inclusive). Browsers and platforms enforce these limits as they take "
         "effect; today this is a heads-up.",
         "Move certificate issuance to automated renewal (ACME) with validity within the "
         "current limit."},
        {"cert.endpoints-differ", "The endpoints of one host present different certificates",
         Severity::info,
         "The IMAP and SMTP endpoints (or the addresses) of the same host name present "
         "different leaf certificates. That can be deliberate, but it is often a renewal "
         "installed on one service and forgotten on another: it shows first as \"IMAP works, "
         "sending fails\" when the old certificate expires.",
         "Install the same renewed certificate on every service and address of the host, or "
         "make sure each one is renewed by the same automation."},
        // --- end of TLS sessions and certificates ---
    };
    std::sort(c.begin(), c.end(),
              [](const FindingInfo& a, const FindingInfo& b) { return a.id < b.id; });
    return c;
  }();
  return catalog;
}

const FindingInfo* find_finding_info(std::string_view id) {
  const auto& c = finding_catalog();
  const auto it = std::lower_bound(c.begin(), c.end(), id,
                                   [](const FindingInfo& f, std::string_view v) { return f.id < v; });
  return it != c.end() && it->id == id ? &*it : nullptr;
}

Finding make_finding(std::string_view id, Severity severity, std::string message,
                     nlohmann::json evidence) {
  const FindingInfo* info = find_finding_info(id);
  if (info == nullptr) throw std::logic_error("finding id not in the catalog: " + std::string(id));
  Finding f;
  f.id = std::string(id);
  f.severity = severity;
  f.message = std::move(message);
  f.evidence = evidence.is_object() ? std::move(evidence) : nlohmann::json::object();
  f.remediation = std::string(info->remediation);
  return f;
}

Finding make_finding(std::string_view id, std::string message, nlohmann::json evidence) {
  const FindingInfo* info = find_finding_info(id);
  if (info == nullptr) throw std::logic_error("finding id not in the catalog: " + std::string(id));
  return make_finding(id, info->severity, std::move(message), std::move(evidence));
}

}  // namespace mailready::checks
