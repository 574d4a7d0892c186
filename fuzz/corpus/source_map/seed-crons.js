{
  "version": 3,
  "sources": ["../convex/crons.ts"],
  "mappings": ";;;;;;;;AAGA,IAAMA,IAAQC,EAAS;AAEvBD,EAAM,SAAS,eAAe,EAAE,SAAS,EAAE,GAAGE,EAAS,SAAS,eAAe;AAAA,EAC7E,QAAQ;AACV,CAAC;AACDF,EAAM;AAAA,EACJ;AAAA,EACA,EAAE,SAAS,GAAG,WAAW,GAAG;AAAA,EAC5BE,EAAS,SAAS;AAAA,EAClB,EAAE,QAAQ,MAAM;AAClB;AAEA,IAAOC,IAAQH;",
  "names": ["crons", "cronJobs", "internal", "crons_default"]
}
