#include "checks/modules/session.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "checks/modules/common.hpp"
#include "checks/proto/connect.hpp"

namespace mailready::checks {
namespace {

constexpr std::string_view no_slot_text = "run deadline reached while waiting for a connection slot";

/// How often a refusal for too many connections is met by waiting and trying again.
constexpr int max_limit_retries = 8;

/// A session nobody uses right now, kept for the endpoint's next user.
struct Idle {
  proto::LineSession session;
  Protocol protocol;
  TlsAttempt::Kind kind;
  std::optional<proto::TlsSession> tls;
  std::vector<std::string> capabilities;
  proto::SmtpCapabilities ehlo;
  int tag = 0;
};

struct EndpointState {
  std::optional<Poco::Net::StreamSocket> parked;  ///< the port probe's connection
  std::vector<Idle> idle;
  /// An accepted login's session, for the mailbox view. Like an idle one it holds no
  /// slot; a server that refuses one more of ours gets it closed (see drop_idle).
  std::optional<Idle> logged_in;
  std::string logged_in_with;  ///< its mechanism
  Poco::Net::Session::Ptr resume;  ///< a TLS session the server lets us resume
  bool contact_started = false;
  bool contact_done = false;
  FirstContact contact;
};

/// A goodbye that does not wait for its answer: the server's reply to LOGOUT or QUIT
/// tells us nothing, and waiting for it would cost every session a round trip.
void say_goodbye(proto::LineSession& session, Protocol protocol, int& tag) {
  (void)session.write_line(protocol == Protocol::smtp ? "QUIT" : fmt::format("m{} LOGOUT", ++tag));
  session.close();
}

/// Sets a session aside as it stands (its slot goes when `ready.conn` is reset).
Idle set_aside(ReadySession& ready) {
  return Idle{std::move(ready.conn->session), ready.protocol, ready.kind, ready.tls,
              std::move(ready.capabilities), std::move(ready.ehlo), ready.tag};
}

/// A session set aside, handed to its next user with `slot` (moved in only on success),
/// if it is still quiet (the server has not spoken or left meanwhile); else it is closed.
std::optional<ReadySession> take_up(Context& ctx, Idle& idle, Slot& slot) {
  if (!slot || !idle.session.quiet()) {
    say_goodbye(idle.session, idle.protocol, idle.tag);
    return std::nullopt;
  }
  idle.session.set_timeout(ctx.wait_budget());
  idle.session.set_deadline(ctx.deadline());
  ReadySession ready;
  ready.protocol = idle.protocol;
  ready.kind = idle.kind;
  ready.tls = idle.tls;
  ready.capabilities = std::move(idle.capabilities);
  ready.ehlo = std::move(idle.ehlo);
  ready.tag = idle.tag;
  ready.reused = true;
  ready.transcript_from = idle.session.transcript().size();
  ready.conn.emplace(Connection{std::move(slot), std::move(idle.session)});
  return ready;
}

/// Every endpoint's shared state for one run. The idle sessions and parked connections
/// are closed when the run's Context goes.
class Sessions {
 public:
  ~Sessions() {
    for (auto& [label, state] : endpoints) {
      for (auto& idle : state.idle) say_goodbye(idle.session, idle.protocol, idle.tag);
      if (state.logged_in) say_goodbye(state.logged_in->session, state.logged_in->protocol, state.logged_in->tag);
      if (state.parked) state.parked->close();
    }
  }
  std::mutex mutex;
  std::condition_variable contact_done;
  std::map<std::string, EndpointState> endpoints;
};

Sessions& sessions(Context& ctx) {
  return *ctx.shared<Sessions>([] { return std::make_shared<Sessions>(); });
}

bool is_default(const proto::TlsClientConfig& c) {
  const proto::TlsClientConfig d;
  return !(c < d) && !(d < c);
}

/// The port probe's connection, if it left one, else a new one.
proto::Result<Poco::Net::StreamSocket> connect_to(Context& ctx, const Endpoint& e) {
  {
    auto& s = sessions(ctx);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto& state = s.endpoints[e.label()];
    if (state.parked) {
      auto socket = std::move(*state.parked);
      state.parked.reset();
      return socket;
    }
  }
  return proto::connect_tcp(e.address, e.port, ctx.wait_budget());
}

Poco::Net::Session::Ptr resume_for(Context& ctx, const Endpoint& e) {
  auto& s = sessions(ctx);
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.endpoints[e.label()].resume;
}

/// Keeps the first resumable TLS session an endpoint gives us.
void remember_resumable(Context& ctx, const Endpoint& e, proto::LineSession& session) {
  auto resumable = proto::resumable_session(session.socket());
  if (resumable.isNull()) return;
  auto& s = sessions(ctx);
  std::lock_guard<std::mutex> lock(s.mutex);
  auto& slot = s.endpoints[e.label()].resume;
  if (slot.isNull()) slot = resumable;
}

/// Did the server refuse this session for having too many of ours?
bool refused_as_too_many(const FirstContact& fc) {
  if (!fc.imap_line.empty()) {
    return fc.imap.kind == proto::ImapGreeting::Kind::bye && proto::sounds_rate_limited(fc.imap.text);
  }
  return !fc.greeting_failure && fc.banner.code != 0 &&
         proto::classify_smtp_greeting(fc.banner) == proto::GreetingKind::rate_limited;
}

/// Connects, gets TLS as the endpoint has it, reads the greeting and the capabilities,
/// and upgrades with STARTTLS when `want_tls`; every step's outcome goes into `fc`.
ReadySession connect_session(Context& ctx, const Endpoint& e, bool want_tls,
                             const proto::TlsClientConfig& config, Slot slot, FirstContact& fc) {
  ReadySession ready;
  ready.protocol = e.protocol;
  auto socket = connect_to(ctx, e);
  if (!socket) {
    fc.connect_failure = socket.failure();
    return ready;
  }
  const bool main_config = is_default(config);
  const auto resume = main_config ? resume_for(ctx, e) : Poco::Net::Session::Ptr();
  const auto tls = tls_clients(ctx).context(config);
  Poco::Net::StreamSocket stream = socket.value();
  if (e.tls == TlsMode::implicit) {
    Poco::Net::StreamSocket secure;
    auto got = proto::handshake(stream, e.host, tls, ctx.wait_budget(), secure, resume);
    if (!got) {
      fc.implicit_tls_failure = got.failure();
      return ready;
    }
    fc.implicit_tls = got.value();
    ready.tls = got.value();
    stream = secure;
  }
  ready.conn.emplace(Connection{std::move(slot), proto::LineSession(stream, ctx.wait_budget())});
  auto& session = ready.conn->session;
  // Every read after this one is cut to what is left of the run (the timeout alone is per
  // read: a server answering each line just inside it would outlast any deadline).
  session.set_deadline(ctx.deadline());

  if (e.protocol == Protocol::imap) {
    auto line = session.read_line();
    if (!line) {
      fc.greeting_failure = line.failure();
    } else {
      fc.imap_line = line.value();
      fc.imap = proto::parse_imap_greeting(line.value());
      fc.capabilities_over_limit += fc.imap.capabilities_over_limit;
      fc.greeted = fc.imap.kind == proto::ImapGreeting::Kind::ok ||
                   fc.imap.kind == proto::ImapGreeting::Kind::preauth;
    }
    if (fc.greeted) {
      fc.capabilities = fc.imap.capabilities;
      if (fc.capabilities.empty()) {
        auto reply = proto::imap_command(session, ready.next_tag(), "CAPABILITY");
        if (reply && reply->status == "OK") {
          fc.capabilities = proto::capabilities_of(reply.value(), &fc.capabilities_over_limit);
        }
      }
      ready.capabilities = fc.capabilities;
      if (e.tls == TlsMode::starttls && want_tls && proto::has_capability(fc.capabilities, "STARTTLS")) {
        fc.starttls_tried = true;
        auto up = proto::imap_starttls(session, ready.next_tag(), e.host, tls, ctx.wait_budget(), resume);
        if (!up) {
          fc.starttls_failure = up.failure();
        } else if (up->tls_failure) {
          fc.starttls_tls_failure = up->tls_failure;
        } else if (!up->tls) {
          fc.starttls_refused = up->reply.text;
        } else {
          fc.starttls_tls = up->tls;
          fc.starttls_injected = up->injected;
          ready.tls = up->tls;
          auto reply = proto::imap_command(session, ready.next_tag(), "CAPABILITY");
          if (!reply) {
            fc.after_tls_failure = reply.failure();
          } else if (reply->status == "OK") {
            fc.capabilities_after_tls = proto::capabilities_of(reply.value(), &fc.capabilities_over_limit);
            ready.capabilities = *fc.capabilities_after_tls;
          }
        }
      }
    }
  } else {
    auto banner = proto::read_smtp_reply(session);
    if (!banner) {
      fc.greeting_failure = banner.failure();
    } else {
      fc.banner = banner.value();
      fc.greeted = proto::classify_smtp_greeting(fc.banner) == proto::GreetingKind::ok;
    }
    if (fc.greeted) {
      auto ehlo = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
      if (!ehlo) {
        fc.ehlo_failure = ehlo.failure();
      } else {
        fc.ehlo = ehlo.value();
        if (ehlo->code == 250) ready.ehlo = proto::parse_ehlo(ehlo.value());
      }
      if (e.tls == TlsMode::starttls && want_tls && ready.ehlo.starttls) {
        fc.starttls_tried = true;
        auto up = proto::smtp_starttls(session, e.host, tls, ctx.wait_budget(), resume);
        if (!up) {
          fc.starttls_failure = up.failure();
        } else if (up->tls_failure) {
          fc.starttls_tls_failure = up->tls_failure;
        } else if (!up->tls) {
          fc.starttls_refused = up->reply.raw();
        } else {
          fc.starttls_tls = up->tls;
          fc.starttls_injected = up->injected;
          ready.tls = up->tls;
          auto again = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
          if (!again) {
            fc.after_tls_failure = again.failure();
          } else {
            fc.ehlo_after_tls = again.value();
            if (again->code == 250) ready.ehlo = proto::parse_ehlo(again.value());
          }
        }
      }
    }
  }
  fc.transcript = session.transcript();

  if (want_tls) {
    const auto attempt = fc.tls();
    ready.kind = attempt.kind;
    ready.detail = attempt.detail;
  } else {
    const auto attempt = fc.tls();  // the greeting's verdict, without STARTTLS
    const bool greeted = attempt.kind != TlsAttempt::Kind::not_reached &&
                         attempt.kind != TlsAttempt::Kind::handshake_failed;
    ready.kind = !greeted ? attempt.kind
                          : e.tls == TlsMode::implicit ? TlsAttempt::Kind::ok
                                                       : TlsAttempt::Kind::no_starttls;
    ready.detail = greeted ? std::string() : attempt.detail;
  }
  if (want_tls && fc.after_tls_failure) {
    // TLS came up and then the session broke: nothing more can be done on it, and what it
    // offers after TLS is unknown (not "nothing").
    ready.kind = TlsAttempt::Kind::not_reached;
    ready.detail = "after STARTTLS: " + fc.after_tls_failure->message;
  }
  if (ready.tls && main_config) remember_resumable(ctx, e, session);
  const bool usable = ready.kind == TlsAttempt::Kind::ok || ready.kind == TlsAttempt::Kind::no_starttls;
  if (!usable && ready.conn) {
    // Nothing more to say on a session that did not get this far.
    if (fc.greeted) say_goodbye(session, e.protocol, ready.tag);
    session.close();
    ready.conn.reset();
  }
  return ready;
}

/// Takes one of the endpoint's idle sessions of the wanted kind, if any is still quiet.
std::optional<ReadySession> take_idle(Context& ctx, const Endpoint& e, bool want_tls, Slot& slot) {
  auto& s = sessions(ctx);
  std::unique_lock<std::mutex> lock(s.mutex);
  auto& idle = s.endpoints[e.label()].idle;
  for (auto it = idle.begin(); it != idle.end(); ++it) {
    // A TLS session serves whoever wants TLS; one without (the server offers no
    // STARTTLS) is what a new connection would give either way.
    const bool fits = it->kind == TlsAttempt::Kind::no_starttls ||
                      (it->kind == TlsAttempt::Kind::ok && (want_tls || e.tls == TlsMode::implicit));
    if (!fits) continue;
    Idle taken = std::move(*it);
    idle.erase(it);
    lock.unlock();
    return take_up(ctx, taken, slot);
  }
  return std::nullopt;
}

}  // namespace

proto::TlsClients& tls_clients(Context& ctx) {
  const auto ca = ctx.options().ca_file;
  return *ctx.shared<proto::TlsClients>([&] { return proto::TlsClients::for_ca_file(ca); });
}

std::string ReadySession::next_tag() { return fmt::format("m{}", ++tag); }

void ReadySession::close() {
  if (!conn) return;
  say_goodbye(conn->session, protocol, tag);
}

TlsAttempt FirstContact::tls() const {
  TlsAttempt out;
  const auto reached = [&](std::string detail) {
    out.kind = TlsAttempt::Kind::not_reached;
    out.detail = std::move(detail);
    return out;
  };
  if (!no_slot.empty()) return reached(no_slot);
  if (connect_failure) return reached("connect: " + connect_failure->message);
  if (implicit_tls_failure) {
    out.kind = TlsAttempt::Kind::handshake_failed;
    out.detail = implicit_tls_failure->message;
    return out;
  }
  if (greeting_failure) return reached(greeting_failure->message);
  const bool imap_protocol = !imap_line.empty();
  if (imap_protocol && imap.kind != proto::ImapGreeting::Kind::ok) {
    return reached("no * OK greeting: " + imap_line);
  }
  if (!imap_protocol) {
    if (banner.code != 220) return reached("no 220 greeting: " + banner.raw());
    if (ehlo_failure) return reached(ehlo_failure->message);
    if (!ehlo || ehlo->code != 250) return reached("EHLO refused: " + (ehlo ? ehlo->raw() : std::string()));
  }
  if (implicit_tls) {
    out.kind = TlsAttempt::Kind::ok;
    out.session = *implicit_tls;
    return out;
  }
  if (!starttls_tried) {
    out.kind = TlsAttempt::Kind::no_starttls;
    out.detail = imap_protocol ? "CAPABILITY does not list STARTTLS" : "EHLO does not advertise STARTTLS";
    return out;
  }
  if (starttls_failure) return reached(starttls_failure->message);
  if (starttls_tls_failure) {
    out.kind = TlsAttempt::Kind::handshake_failed;
    out.detail = starttls_tls_failure->message;
    return out;
  }
  if (!starttls_tls) {
    out.kind = TlsAttempt::Kind::no_starttls;
    out.detail = "STARTTLS refused: " + starttls_refused;
    return out;
  }
  out.kind = TlsAttempt::Kind::ok;
  out.session = *starttls_tls;
  return out;
}

namespace {

/// Closes the endpoint's idle sessions and the logged-in one kept for the mailbox view
/// (the server counts them too); how many there were.
int drop_idle(Context& ctx, const Endpoint& e) {
  std::vector<Idle> idle;
  {
    auto& s = sessions(ctx);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto& state = s.endpoints[e.label()];
    idle.swap(state.idle);
    if (state.logged_in) idle.push_back(std::move(*state.logged_in));
    state.logged_in.reset();
  }
  for (auto& i : idle) say_goodbye(i.session, i.protocol, i.tag);
  return static_cast<int>(idle.size());
}

}  // namespace

/// After a refusal for too many of ours: how many of ours the server was counting then
/// (those open throughout — some may have opened or closed meanwhile — and the idle ones,
/// which it counts too), or nullopt when the refusal cannot be about ours: none open and
/// none before at that port. With none open but some before, the server may still count
/// one that has just closed (Postfix's anvil and Dovecot hear of a close a moment late).
std::optional<int> ours_counted(Context& ctx, const Endpoint& e, int active_before) {
  const int open = std::min(active_before, ctx.slots_in_use(e.address, e.port)) + drop_idle(ctx, e);
  if (open > 0) return open;
  if (ctx.slots_taken(e.address, e.port) > 1) return 1;
  // None of ours there, but a fleet's elsewhere: a server behind several of the fleet's
  // addresses (one hoster, many names) counts all of ours from this client to that
  // service, so the fleet opens no more to that port than it had when refused.
  if (ctx.shares_budget() && ctx.connections_open() > ctx.slots_in_use(e.address)) {
    ctx.lower_port_limit(e.port, ctx.connections_open_on_port(e.port));
    return 0;
  }
  return std::nullopt;
}

void wait_before_retry(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(400, 50 << attempt)));
}

namespace {

/// A new session to `e` (`fc` says how far it got), or, with `take_idle_first`, an idle
/// one of the endpoint's. A refusal for too many of ours, while others of ours are open
/// there (the idle ones count: the server sees them), closes the idle ones, lowers the
/// port's limit to what the server took, waits for a slot and tries again; the limit
/// seen goes with the session. A refusal with nothing of ours open stands.
ReadySession connect_within_limit(Context& ctx, const Endpoint& e, const SessionWanted& wanted,
                                  bool take_idle_first, FirstContact& fc) {
  ConnectionLimit limit;
  for (int attempt = 0;; ++attempt) {
    fc = FirstContact();
    fc.limit = limit;
    Slot slot = ctx.acquire_slot(e.address, e.port, wanted.urgent);
    if (!slot) {
      // Name who had the slots: the endpoint that starved this one.
      const auto holders = ctx.slot_holders(e.address);
      fc.no_slot = holders.empty() ? std::string(no_slot_text)
                                   : fmt::format("{} (slots held, by port: {})", no_slot_text, holders);
      ReadySession none;
      none.protocol = e.protocol;
      none.detail = fc.no_slot;
      none.limit = limit;
      return none;
    }
    if (take_idle_first && is_default(wanted.config) && !wanted.fresh) {
      if (auto idle = take_idle(ctx, e, wanted.tls, slot)) {
        idle->limit = limit;
        return std::move(*idle);
      }
    }
    const int active = ctx.slots_in_use(e.address, e.port) - 1;  // ours there besides this one
    ReadySession ready = connect_session(ctx, e, wanted.tls, wanted.config, std::move(slot), fc);
    if (!refused_as_too_many(fc)) {
      ready.limit = limit;
      return ready;
    }
    const auto held = ours_counted(ctx, e, active);
    if (!held || attempt >= max_limit_retries || ctx.expired()) {
      fc.limit = {};  // the refusal stands: the greeting check reports it as such
      return ready;
    }
    if (*held > 0) {
      limit = {*held, fc.imap_line.empty() ? fc.banner.raw() : fc.imap_line};
      ctx.lower_slot_limit(e.address, e.port, *held);
    }
    wait_before_retry(attempt);
  }
}

}  // namespace

ReadySession open_session(Context& ctx, const Endpoint& e, const SessionWanted& wanted) {
  FirstContact fc;
  return connect_within_limit(ctx, e, wanted, true, fc);
}

void release(Context& ctx, const Endpoint& e, ReadySession& ready, bool reusable) {
  if (!ready.conn) return;
  const bool idle_kind = ready.kind == TlsAttempt::Kind::ok || ready.kind == TlsAttempt::Kind::no_starttls;
  if (reusable && idle_kind && ready.conn->session.quiet()) {
    auto& s = sessions(ctx);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto& idle = s.endpoints[e.label()].idle;
    if (idle.size() < 2) {
      idle.push_back(set_aside(ready));
      ready.conn.reset();  // frees the slot: an idle session is no active probe
      return;
    }
  }
  ready.close();
  ready.conn.reset();
}

void keep_logged_in(Context& ctx, const Endpoint& e, const std::string& mechanism, ReadySession& ready) {
  if (!ready.conn) return;
  // Where the server already refused one more of ours, a session kept aside would take
  // the place of the logins still to come.
  if (ctx.slot_limit_seen(e.address, e.port) == 0) {
    auto& s = sessions(ctx);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto& state = s.endpoints[e.label()];
    if (!state.logged_in) {
      state.logged_in = set_aside(ready);
      state.logged_in_with = mechanism;
      ready.conn.reset();  // frees the slot: nobody is using it now
      return;
    }
  }
  ready.close();
  ready.conn.reset();
}

std::optional<ReadySession> take_logged_in(Context& ctx, const Endpoint& e, const std::string& mechanism) {
  std::optional<Idle> kept;
  {
    auto& s = sessions(ctx);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto& state = s.endpoints[e.label()];
    if (!state.logged_in || state.logged_in_with != mechanism) return std::nullopt;
    kept.swap(state.logged_in);
  }
  Slot slot = ctx.acquire_slot(e.address, e.port);
  return take_up(ctx, *kept, slot);
}

void park_connection(Context& ctx, const Endpoint& e, Poco::Net::StreamSocket socket) {
  auto& s = sessions(ctx);
  std::lock_guard<std::mutex> lock(s.mutex);
  s.endpoints[e.label()].parked = std::move(socket);
}

const FirstContact& first_contact(Context& ctx, const Endpoint& e) {
  auto& s = sessions(ctx);
  std::unique_lock<std::mutex> lock(s.mutex);
  auto& state = s.endpoints[e.label()];
  if (state.contact_started) {
    s.contact_done.wait(lock, [&] { return state.contact_done; });
    return state.contact;
  }
  state.contact_started = true;
  lock.unlock();

  FirstContact fc;
  // Whatever happens here, the checks waiting for this endpoint's first contact go on.
  struct Done {
    Sessions& s;
    EndpointState& state;
    FirstContact& fc;
    ~Done() {
      std::lock_guard<std::mutex> guard(s.mutex);
      state.contact = std::move(fc);
      state.contact_done = true;
      s.contact_done.notify_all();
    }
  };
  {
    Done done{s, state, fc};
    SessionWanted wanted;
    wanted.urgent = true;  // every later step of the endpoint waits for this one
    ReadySession ready = connect_within_limit(ctx, e, wanted, false, fc);
    // PREAUTH is already past the point where anyone else could use the session.
    const bool reusable = fc.greeted && fc.imap.kind != proto::ImapGreeting::Kind::preauth;
    release(ctx, e, ready, reusable);
  }
  lock.lock();
  return state.contact;
}

TlsAttempt establish_tls(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config) {
  SessionWanted wanted;
  wanted.config = config;
  wanted.urgent = true;  // cert.chain, and so every login, waits for tls.handshake
  ReadySession ready = open_session(ctx, e, wanted);
  TlsAttempt out;
  out.kind = ready.kind;
  out.detail = ready.detail;
  if (ready.tls) out.session = *ready.tls;
  release(ctx, e, ready, false);
  return out;
}

void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const ReadySession& ready) {
  if (ready.conn) keep_transcript(ctx, check, e, ready.conn->session.transcript(), ready.transcript_from);
}

}  // namespace mailready::checks
