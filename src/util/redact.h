// A store URL fit to print: the password of user:password@ and the value of
// a password= parameter become ***; everything else is kept, so an operator
// still sees which server and database are meant.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace cybexp {

std::string redacted_url(std::string_view url);

}  // namespace cybexp
