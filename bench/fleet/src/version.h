#define APP_VERSION "commit-0"
