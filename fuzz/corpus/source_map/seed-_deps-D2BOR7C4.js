{
  "version": 3,
  "sources": ["../../convex/_generated/server.js"],
  "mappings": ";;;;;;;;;AA4BO,IAAMA,IAAQC,GAURC,IAAgBC,GAUhBC,IAAWC;AAuBjB,IAAMC,IAASC;AAqBf,IAAMC,IAAaC,GAEbC,IAAM,QAAQ;",
  "names": ["query", "queryGeneric", "internalQuery", "internalQueryGeneric", "mutation", "mutationGeneric", "action", "actionGeneric", "httpAction", "httpActionGeneric", "env"]
}
