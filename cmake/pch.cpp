// The translation unit that carries the project's precompiled headers
// (cmake/PrecompiledHeaders.cmake); every other target reuses what it compiles.
