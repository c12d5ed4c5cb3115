// LOGIN (draft-murchison-sasl-login-00): the server prompts twice and the client answers
// with the user name, then the password. The prompt texts vary ("Username:", "User
// Name", localised, or empty), so the draft tells clients to ignore them and answer by
// position, as we do. No initial response: the draft defines none, and some servers take
// an initial response as the user name but others reject it.

#include <utility>

#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

class Login final : public Mechanism {
 public:
  explicit Login(Credentials credentials) : c_(std::move(credentials)) {}

  std::string_view name() const override { return "LOGIN"; }
  bool client_first() const override { return false; }
  bool sends_password_in_clear() const override { return true; }

  Result<std::string> initial_response() override {
    return fail(Failure::Kind::other, "LOGIN has no initial response");
  }

  Result<std::string> step(std::string_view /*challenge*/) override {
    switch (state_) {
      case State::user: state_ = State::password; return c_.user;
      case State::password: state_ = State::done; return c_.password;
      case State::done: break;
    }
    return fail(Failure::Kind::protocol, "LOGIN: a third prompt after user name and password");
  }

 private:
  enum class State {
    user,      ///< the next prompt asks for the user name
    password,  ///< the next prompt asks for the password
    done,      ///< both sent; another prompt is a protocol error
  };
  Credentials c_;
  State state_ = State::user;
};

}  // namespace

std::unique_ptr<Mechanism> make_login(const Credentials& credentials) {
  return std::make_unique<Login>(credentials);
}

}  // namespace mailready::proto::sasl
