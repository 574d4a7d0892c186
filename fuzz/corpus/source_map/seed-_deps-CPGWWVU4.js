{
  "version": 3,
  "sources": ["../../convex/_generated/api.js"],
  "mappings": ";;;;;;AAoBO,IAAMA,IAAMC,GACNC,IAAWD,GACXE,IAAaC,EAAkB;",
  "names": ["api", "anyApi", "internal", "components", "componentsGeneric"]
}
