int ms_agent_placeholder(void); int ms_agent_placeholder(void) { return 0; }
