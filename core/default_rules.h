// The boilerplate rules shipped in conf/boilerplate.rules, compiled in.
#ifndef STORYD_CORE_DEFAULT_RULES_H_
#define STORYD_CORE_DEFAULT_RULES_H_

#include <string_view>

namespace storyd {

// The text of conf/boilerplate.rules at build time.
std::string_view DefaultBoilerplateRules();

}  // namespace storyd

#endif  // STORYD_CORE_DEFAULT_RULES_H_
