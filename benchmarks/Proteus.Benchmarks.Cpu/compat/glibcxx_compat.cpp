// LD_PRELOAD shim for running TorchSharp's libLibTorchSharp.so on a libstdc++ older than GCC 13's
// (Debian 12 ships GCC 12's, GLIBCXX_3.4.30). See ../README.md.
//
// LibTorchSharp was built with GCC 13, whose <iostream> no longer places a static std::ios_base::Init
// in every translation unit: it references std::ios_base_library_init() (version GLIBCXX_3.4.32)
// instead, and relies on libstdc++ 13 constructing the standard streams itself. That reference is
// the only GLIBCXX_3.4.32 symbol the library needs. This shim defines it under that version and,
// because it includes <iostream> with GCC 12's headers, constructs a std::ios_base::Init when it is
// loaded, so std::cout and friends are ready before LibTorchSharp runs, as libstdc++ 13 promises.
#include <iostream>

namespace std
{
__attribute__((visibility("default"))) void ios_base_library_init()
{
    static ios_base::Init init;
}
} // namespace std
