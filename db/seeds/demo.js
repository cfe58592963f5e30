/**
 * Demo seed: one tenant with a credit grant and 400 sample B2B leads.
 *
 * Idempotent: the tenant is inserted only if absent (its 'grant' ledger row only when it was
 * created), and leads only if the tenant has none yet. Everything runs in one transaction with
 * app.current_tenant set transaction-locally, so the seed works under row-level security as the
 * application role as well as a superuser.
 *
 * The leads are deterministic (mulberry32 with a fixed seed; ids derived from the tenant id and the
 * row number) and deliberately a little messy, the way CRM exports are:
 *   - 20 rows (5 %) without an email (NULL, or '' as CSV imports leave it),
 *   - 12 rows (3 %) with a syntactically invalid email,
 *   - 16 rows (4 %) are near-duplicates of another row (same person: email casing or
 *     plus-addressing, a name typo, casing or nickname, a phone in another format, ...),
 *   - phones in national and international formats, some missing; a few personal mailboxes;
 *     country as an ISO code mostly, sometimes spelled out; US ZIP codes that lost their leading 0.
 * The companies are fictional; the cities and postcodes are real. Phone numbers use the fictional
 * ranges where a country has them (US/CA 555-01xx, UK Ofcom drama ranges, AU 5550).
 *
 * Plain CommonJS with Node built-ins only: the agent-services CLI, the knex CLI (`seed` export,
 * see knexfile.js) and tests all load it as is.
 */
"use strict";

const crypto = require("node:crypto");

const LEAD_COUNT = 400;
const MISSING_EMAIL_COUNT = 20;
const INVALID_EMAIL_COUNT = 12;
const NEAR_DUPLICATE_COUNT = 16;
const PRNG_SEED = 0x5eed2026;
const BATCH_SIZE = 100;
const LEAD_SOURCES = ["csv_import", "hubspot", "salesforce", "webinar"];

/* ------------------------------------------------------------------------------------------ */
/* Deterministic randomness                                                                   */
/* ------------------------------------------------------------------------------------------ */

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeRandom(seed) {
  const next = mulberry32(seed);
  const r = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    /** items: [[value, weight], ...] */
    weighted: (items) => {
      const total = items.reduce((s, [, w]) => s + w, 0);
      let x = next() * total;
      for (const [value, w] of items) {
        x -= w;
        if (x < 0) return value;
      }
      return items[items.length - 1][0];
    },
    shuffle: (arr) => {
      const a = arr.slice();
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    },
    digits: (n) => {
      let s = "";
      for (let i = 0; i < n; i++) s += String(Math.floor(next() * 10));
      return s;
    },
  };
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Reference data                                                                             */
/* ------------------------------------------------------------------------------------------ */

/** Real cities and postcodes. area: the dialling area code without the trunk prefix. */
const CITIES = {
  sf: { city: "San Francisco", country: "US", postcodes: ["94105", "94107", "94103"], area: "415", streets: ["Market St", "Mission St", "Howard St"] },
  nyc: { city: "New York", country: "US", postcodes: ["10001", "10011", "10013", "10016"], area: "212", streets: ["Broadway", "5th Ave", "Madison Ave"] },
  austin: { city: "Austin", country: "US", postcodes: ["78701", "78702", "78704"], area: "512", streets: ["Congress Ave", "E 6th St", "Lamar Blvd"] },
  chicago: { city: "Chicago", country: "US", postcodes: ["60601", "60606", "60654"], area: "312", streets: ["N Michigan Ave", "W Wacker Dr", "N LaSalle St"] },
  boston: { city: "Boston", country: "US", postcodes: ["02110", "02116", "02210"], area: "617", streets: ["Boylston St", "Atlantic Ave", "Summer St"] },
  seattle: { city: "Seattle", country: "US", postcodes: ["98101", "98104", "98109"], area: "206", streets: ["Pike St", "1st Ave", "Westlake Ave N"] },
  denver: { city: "Denver", country: "US", postcodes: ["80202", "80205", "80216"], area: "303", streets: ["Larimer St", "17th St", "Blake St"] },
  atlanta: { city: "Atlanta", country: "US", postcodes: ["30303", "30308", "30309"], area: "404", streets: ["Peachtree St NE", "Spring St NW", "W Peachtree St"] },
  london: { city: "London", country: "GB", postcodes: ["EC2A 4NE", "EC1V 9HX", "SE1 9SG", "W1T 1JY"], area: "20", streets: ["Old Street", "City Road", "Southwark Street", "Charlotte Street"] },
  manchester: { city: "Manchester", country: "GB", postcodes: ["M1 1AE", "M2 3WQ", "M4 5JD"], area: "161", streets: ["Deansgate", "Oxford Road", "Piccadilly"] },
  bristol: { city: "Bristol", country: "GB", postcodes: ["BS1 4DJ", "BS1 6QH", "BS2 0JA"], area: "117", streets: ["Queen Square", "Victoria Street", "Temple Gate"] },
  edinburgh: { city: "Edinburgh", country: "GB", postcodes: ["EH1 1YZ", "EH2 2ER", "EH3 9DR"], area: "131", streets: ["George Street", "Princes Street", "Lothian Road"] },
  berlin: { city: "Berlin", country: "DE", postcodes: ["10115", "10117", "10178", "10997"], area: "30", streets: ["Friedrichstraße", "Torstraße", "Oranienstraße"] },
  munich: { city: "Munich", country: "DE", postcodes: ["80331", "80333", "80335"], area: "89", streets: ["Leopoldstraße", "Maximilianstraße", "Sendlinger Straße"] },
  hamburg: { city: "Hamburg", country: "DE", postcodes: ["20095", "20457", "22767"], area: "40", streets: ["Mönckebergstraße", "Große Elbstraße", "Am Sandtorkai"] },
  frankfurt: { city: "Frankfurt am Main", country: "DE", postcodes: ["60311", "60313", "60329"], area: "69", streets: ["Zeil", "Mainzer Landstraße", "Taunusanlage"] },
  paris: { city: "Paris", country: "FR", postcodes: ["75002", "75008", "75011"], area: "1", streets: ["Rue de Rivoli", "Boulevard Haussmann", "Rue Oberkampf"] },
  lyon: { city: "Lyon", country: "FR", postcodes: ["69002", "69003", "69007"], area: "4", streets: ["Rue de la République", "Cours Lafayette", "Avenue Jean Jaurès"] },
  toulouse: { city: "Toulouse", country: "FR", postcodes: ["31000", "31400", "31500"], area: "5", streets: ["Rue d'Alsace-Lorraine", "Allée Jean Jaurès", "Rue de Metz"] },
  amsterdam: { city: "Amsterdam", country: "NL", postcodes: ["1012 AB", "1016 DK", "1071 XX"], area: "20", streets: ["Keizersgracht", "Herengracht", "Damrak"] },
  rotterdam: { city: "Rotterdam", country: "NL", postcodes: ["3011 AA", "3012 CN", "3072 AP"], area: "10", streets: ["Coolsingel", "Wilhelminakade", "Weena"] },
  utrecht: { city: "Utrecht", country: "NL", postcodes: ["3511 AB", "3521 AZ", "3584 CS"], area: "30", streets: ["Oudegracht", "Croeselaan", "Stationsplein"] },
  madrid: { city: "Madrid", country: "ES", postcodes: ["28013", "28001", "28046"], area: "91", streets: ["Calle de Alcalá", "Gran Vía", "Paseo de la Castellana"] },
  barcelona: { city: "Barcelona", country: "ES", postcodes: ["08002", "08008", "08018"], area: "93", streets: ["Passeig de Gràcia", "Carrer de Pujades", "Avinguda Diagonal"] },
  valencia: { city: "Valencia", country: "ES", postcodes: ["46002", "46004", "46023"], area: "96", streets: ["Calle de Colón", "Avenida del Puerto", "Calle de la Paz"] },
  toronto: { city: "Toronto", country: "CA", postcodes: ["M5H 2N2", "M5V 3L9", "M5J 2H7"], area: "416", streets: ["King St W", "Bay St", "Front St W"] },
  vancouver: { city: "Vancouver", country: "CA", postcodes: ["V6B 1A1", "V6C 3E1", "V6E 4M3"], area: "604", streets: ["W Hastings St", "Granville St", "Burrard St"] },
  montreal: { city: "Montreal", country: "CA", postcodes: ["H2Y 1C6", "H3B 4W8", "H2X 1Y4"], area: "514", streets: ["Rue Saint-Jacques", "Boulevard René-Lévesque O", "Rue Sainte-Catherine O"] },
  sydney: { city: "Sydney", country: "AU", postcodes: ["2000", "2009", "2010"], area: "2", streets: ["George St", "Pitt St", "Kent St"] },
  melbourne: { city: "Melbourne", country: "AU", postcodes: ["3000", "3006", "3121"], area: "3", streets: ["Collins St", "Bourke St", "Flinders Lane"] },
  brisbane: { city: "Brisbane", country: "AU", postcodes: ["4000", "4006", "4101"], area: "7", streets: ["Queen St", "Eagle St", "Adelaide St"] },
};

const COUNTRY_SPELLINGS = {
  US: ["United States", "USA", "U.S."],
  GB: ["United Kingdom", "UK", "Great Britain"],
  DE: ["Germany", "Deutschland"],
  FR: ["France"],
  NL: ["Netherlands", "The Netherlands", "Nederland"],
  ES: ["Spain", "España"],
  CA: ["Canada"],
  AU: ["Australia"],
};

/** Fictional companies. [name, domain, industry, hq city key, employees, email pattern] */
const COMPANY_ROWS = [
  // SaaS
  ["Brightlane Software", "brightlane.io", "SaaS", "sf", 420, "first.last"],
  ["Cloudharbor", "cloudharbor.com", "SaaS", "seattle", 1300, "first.last"],
  ["Nimbus Analytics", "nimbusanalytics.com", "SaaS", "boston", 260, "first.last"],
  ["Pipewise", "pipewise.io", "SaaS", "austin", 85, "first"],
  ["Quillstack", "quillstack.com", "SaaS", "nyc", 150, "first.last"],
  ["Tallyforge", "tallyforge.com", "SaaS", "denver", 60, "flast"],
  ["Orbital Metrics", "orbitalmetrics.io", "SaaS", "london", 210, "first.last"],
  ["Datawell", "datawell.de", "SaaS", "berlin", 140, "first.last"],
  ["Nordlicht Cloud", "nordlicht.cloud", "SaaS", "hamburg", 95, "first.last"],
  // Fintech
  ["Ledgerline", "ledgerline.com", "Fintech", "nyc", 780, "first.last"],
  ["Coinpath Payments", "coinpath.co.uk", "Fintech", "london", 340, "first.last"],
  ["Fairbank Digital", "fairbankdigital.de", "Fintech", "frankfurt", 520, "first.last"],
  ["Payvista", "payvista.nl", "Fintech", "amsterdam", 190, "first.last"],
  ["Northvault Capital", "northvault.ca", "Fintech", "toronto", 95, "flast"],
  ["Credora Finanzas", "credora.es", "Fintech", "madrid", 240, "first.last"],
  ["Tandem Ledger", "tandemledger.com.au", "Fintech", "sydney", 130, "first.last"],
  // Healthcare
  ["Meridian Health Systems", "meridianhs.com", "Healthcare", "chicago", 4200, "flast"],
  ["Carevine", "carevine.io", "Healthcare", "boston", 130, "first.last"],
  ["Vitalis Medizintechnik", "vitalis-medical.de", "Healthcare", "munich", 2100, "first.last"],
  ["Clinicore", "clinicore.fr", "Healthcare", "lyon", 310, "first.last"],
  ["Harbourside Health", "harboursidehealth.com.au", "Healthcare", "sydney", 880, "first.last"],
  ["Pulsepoint Diagnostics", "pulsepointdx.com", "Healthcare", "atlanta", 560, "first.last"],
  ["Zorgstroom", "zorgstroom.nl", "Healthcare", "utrecht", 270, "first.last"],
  // Retail
  ["Hearth & Oak", "hearthandoak.com", "Retail", "atlanta", 1600, "first.last"],
  ["Urban Basket", "urbanbasket.co.uk", "Retail", "manchester", 950, "first.last"],
  ["Modehaus Nord", "modehaus-nord.de", "Retail", "hamburg", 720, "first.last"],
  ["Maison Lumière", "maisonlumiere.fr", "Retail", "paris", 430, "first.last"],
  ["Tienda Verde", "tiendaverde.es", "Retail", "barcelona", 260, "first.last"],
  ["Maple & Pine Outfitters", "mapleandpine.ca", "Retail", "vancouver", 380, "first"],
  ["Coastline Goods", "coastlinegoods.com.au", "Retail", "melbourne", 210, "first.last"],
  // Manufacturing
  ["Ironbridge Industries", "ironbridge-ind.com", "Manufacturing", "chicago", 5400, "flast"],
  ["Kessler Präzisionstechnik", "kessler-praezision.de", "Manufacturing", "munich", 1250, "first.last"],
  ["Voltaire Composants", "voltaire-composants.fr", "Manufacturing", "toulouse", 890, "first.last"],
  ["Dutch Precision Works", "dutchprecision.nl", "Manufacturing", "rotterdam", 460, "first.last"],
  ["Northfield Fabrication", "northfieldfab.co.uk", "Manufacturing", "bristol", 310, "first.last"],
  ["Cascade Polymers", "cascadepolymers.com", "Manufacturing", "denver", 700, "first_last"],
  ["Aceros Levante", "aceroslevante.es", "Manufacturing", "valencia", 1100, "first.last"],
  // Logistics
  ["Freightory", "freightory.com", "Logistics", "atlanta", 640, "first.last"],
  ["Portlink Logistics", "portlink.nl", "Logistics", "rotterdam", 2300, "first.last"],
  ["Transalpine Cargo", "transalpine-cargo.de", "Logistics", "hamburg", 1800, "first.last"],
  ["Swiftroute", "swiftroute.co.uk", "Logistics", "london", 410, "first.last"],
  ["Outback Freight Co", "outbackfreight.com.au", "Logistics", "brisbane", 520, "first.last"],
  ["Laurentian Shipping", "laurentianshipping.ca", "Logistics", "montreal", 760, "first.last"],
  // Media
  ["Brightwave Media", "brightwavemedia.com", "Media", "nyc", 350, "first.last"],
  ["Signal & Noise Studios", "signalnoise.co.uk", "Media", "london", 120, "first"],
  ["Studio Kaléido", "studiokaleido.fr", "Media", "paris", 75, "first.last"],
  ["Lichtspiel Media", "lichtspiel-media.de", "Media", "berlin", 180, "first.last"],
  ["Onda Media Group", "ondamedia.es", "Media", "madrid", 290, "first.last"],
  ["Northern Lights Publishing", "northernlightspub.ca", "Media", "toronto", 140, "first.last"],
  // Education
  ["Learnloop", "learnloop.io", "Education", "austin", 160, "first.last"],
  ["Scholarly Cloud", "scholarlycloud.com", "Education", "boston", 90, "firstl"],
  ["Brightpath Academy", "brightpathacademy.co.uk", "Education", "edinburgh", 230, "first.last"],
  ["Lernwerk", "lernwerk.de", "Education", "berlin", 110, "first.last"],
  ["Campus Nova", "campusnova.es", "Education", "barcelona", 70, "first.last"],
  ["EduBridge Australia", "edubridge.com.au", "Education", "melbourne", 300, "first.last"],
  // Cybersecurity, energy, insurance, hospitality, telecom
  ["Sentinelgrid", "sentinelgrid.io", "Cybersecurity", "denver", 240, "first.last"],
  ["Bastion Networks", "bastionnetworks.nl", "Cybersecurity", "utrecht", 130, "first.last"],
  ["Greenvolt Energie", "greenvolt-energie.de", "Energy", "frankfurt", 600, "first.last"],
  ["Solarridge", "solarridge.com.au", "Energy", "brisbane", 210, "first.last"],
  ["Harbor Mutual", "harbormutual.ca", "Insurance", "toronto", 2500, "flast"],
  ["Casa Sol Hoteles", "casasolhoteles.es", "Hospitality", "madrid", 1400, "first.last"],
  ["Wavecrest Télécom", "wavecrest-telecom.fr", "Telecom", "paris", 3100, "first.last"],
];

const REVENUE_PER_EMPLOYEE = {
  SaaS: 210000, Fintech: 320000, Healthcare: 160000, Retail: 240000, Manufacturing: 230000,
  Logistics: 190000, Media: 150000, Education: 95000, Cybersecurity: 250000, Energy: 400000,
  Insurance: 450000, Hospitality: 80000, Telecom: 380000,
};

const TECH_BY_INDUSTRY = {
  SaaS: ["Salesforce", "HubSpot", "Segment", "Snowflake", "dbt", "AWS", "Stripe", "Intercom", "Datadog", "Kubernetes", "PostgreSQL", "Looker"],
  Fintech: ["Salesforce", "Snowflake", "Kafka", "AWS", "Stripe", "Plaid", "Datadog", "Tableau", "PostgreSQL", "Okta"],
  Healthcare: ["Salesforce Health Cloud", "Epic", "Azure", "Tableau", "Microsoft Dynamics", "ServiceNow", "Okta", "SQL Server"],
  Retail: ["Shopify", "Klaviyo", "Google Analytics", "HubSpot", "Zendesk", "BigQuery", "Magento", "SAP", "Segment"],
  Manufacturing: ["SAP", "Microsoft Dynamics", "Oracle", "Azure", "Power BI", "Siemens MindSphere", "ServiceNow", "Salesforce"],
  Logistics: ["SAP", "Oracle", "AWS", "Power BI", "Kafka", "Salesforce", "Microsoft Dynamics", "ServiceNow"],
  Media: ["Google Analytics", "Adobe Experience Cloud", "HubSpot", "BigQuery", "WordPress", "Mailchimp", "GCP", "Looker"],
  Education: ["HubSpot", "Canvas", "Google Workspace", "Zoom", "Salesforce", "Moodle", "AWS", "Intercom"],
  Cybersecurity: ["Salesforce", "Marketo", "AWS", "Datadog", "Splunk", "Snowflake", "Okta", "Kubernetes"],
  Energy: ["SAP", "Azure", "Power BI", "Salesforce", "OSIsoft PI", "Databricks", "ServiceNow"],
  Insurance: ["Guidewire", "Salesforce", "Azure", "Snowflake", "Tableau", "Microsoft Dynamics", "Okta"],
  Hospitality: ["Oracle Opera", "Salesforce", "HubSpot", "Google Analytics", "Zendesk", "Mailchimp"],
  Telecom: ["Salesforce", "Oracle", "Kafka", "AWS", "Databricks", "ServiceNow", "Tableau", "Marketo"],
};

/** Title pools by seniority band; the stored seniority is derived from the title (seniorityOf). */
const TITLES = [
  [["CEO", "CTO", "CFO", "COO", "Chief Marketing Officer", "Chief Revenue Officer", "Co-Founder & CEO", "Chief Data Officer", "Founder"], 7],
  [["VP Sales", "VP of Marketing", "VP Engineering", "Vice President, Operations", "VP Customer Success", "SVP Revenue", "VP Data & Analytics"], 11],
  [["Head of Growth", "Director of Demand Generation", "Head of Data", "Director of Engineering", "Sales Director", "Head of Partnerships", "Director of Procurement", "IT Director", "Head of Marketing"], 17],
  [["Marketing Manager", "Sales Manager", "Product Manager", "Engineering Manager", "Operations Manager", "Customer Success Manager", "Data Engineering Lead", "Team Lead, Inside Sales", "Growth Marketing Manager"], 24],
  [["Senior Data Engineer", "Senior Account Executive", "Principal Engineer", "Staff Software Engineer", "Senior Marketing Analyst", "Sr. Solutions Architect", "Senior Product Designer"], 18],
  [["Data Engineer", "Account Executive", "Sales Development Representative", "Marketing Coordinator", "Business Analyst", "Software Engineer", "Growth Analyst", "Marketing Associate", "Junior Data Analyst"], 23],
];

/** Name pools: [[first names], [last names]] per culture. */
const NAMES = {
  anglo: [
    ["James", "Emily", "Michael", "Sarah", "David", "Jessica", "Daniel", "Ashley", "Matthew", "Olivia", "Ryan", "Hannah", "Christopher", "Megan", "Andrew", "Lauren", "Brian", "Rachel", "Kevin", "Natalie", "Tom", "Chloe", "Oliver", "Amelia", "Jack", "Sophie", "Liam", "Grace", "Noah", "Charlotte", "Ethan", "Zoe", "Benjamin", "Abigail", "Samuel", "Katherine"],
    ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Campbell", "Mitchell", "O'Brien", "Murphy", "Kelly", "Evans", "Hughes", "Robinson", "MacDonald", "Fraser", "Sullivan"],
  ],
  de: [
    ["Lukas", "Anna", "Jonas", "Lena", "Felix", "Laura", "Maximilian", "Julia", "Tobias", "Katharina", "Jan", "Sophie", "Moritz", "Lea", "Florian", "Jürgen", "Sabine", "Björn", "Stefan", "Miriam"],
    ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Zimmermann", "Krüger", "Hartmann", "Weiß", "Lange"],
  ],
  fr: [
    ["Camille", "Louis", "Chloé", "Hugo", "Léa", "Lucas", "Manon", "Thomas", "Inès", "Antoine", "Juliette", "Mathieu", "Élodie", "Nicolas", "Margaux", "François", "Amélie", "Julien"],
    ["Martin", "Bernard", "Dubois", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Fontaine", "Rousseau", "Girard", "Lambert", "Bonnet"],
  ],
  nl: [
    ["Daan", "Sanne", "Bram", "Fleur", "Lars", "Anouk", "Sem", "Lotte", "Ruben", "Eva", "Thijs", "Femke", "Jeroen", "Maaike", "Joost", "Iris"],
    ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen"],
  ],
  es: [
    ["Lucía", "Hugo", "María", "Pablo", "Carmen", "Javier", "Sofía", "Alejandro", "Paula", "Diego", "Elena", "Sergio", "Marta", "Álvaro", "Laura", "Jorge", "Nuria", "Jordi"],
    ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Puig"],
  ],
  southAsian: [
    ["Priya", "Arjun", "Ananya", "Rahul", "Sanjay", "Deepa", "Vikram", "Neha", "Rohan", "Kavya"],
    ["Patel", "Sharma", "Singh", "Gupta", "Iyer", "Reddy", "Nair", "Mehta", "Kapoor", "Rao"],
  ],
  chinese: [
    ["Wei", "Mei", "Jun", "Lin", "Hao", "Xiaoling", "Yan", "Jie"],
    ["Chen", "Wang", "Li", "Zhang", "Liu", "Huang", "Zhou", "Wu"],
  ],
  japanese: [
    ["Hiroshi", "Yuki", "Kenji", "Haruka", "Takeshi", "Aiko"],
    ["Tanaka", "Sato", "Nakamura", "Suzuki", "Watanabe", "Ito"],
  ],
  korean: [
    ["Min-jun", "Seo-yeon", "Ji-ho", "Soo-ah", "Hyun-woo"],
    ["Kim", "Park", "Choi", "Lee", "Jung"],
  ],
  other: [
    ["Mohammed", "Fatima", "Omar", "Aisha", "Olga", "Dmitri", "Kwame", "Chiamaka", "Mateo", "Isabela", "Giulia", "Marco", "Agnieszka", "Tomasz", "Nikos", "Elif"],
    ["Khan", "Haddad", "Rahman", "Ivanova", "Petrov", "Okafor", "Mensah", "Silva", "Santos", "Rossi", "Bianchi", "Kowalski", "Nowak", "Papadopoulos", "Yılmaz", "Costa"],
  ],
};

const CULTURE_BY_COUNTRY = {
  US: [["anglo", 62], ["southAsian", 12], ["chinese", 6], ["japanese", 2], ["korean", 3], ["other", 10], ["es", 5]],
  GB: [["anglo", 68], ["southAsian", 14], ["other", 10], ["chinese", 5], ["japanese", 2], ["korean", 1]],
  CA: [["anglo", 55], ["fr", 15], ["southAsian", 12], ["chinese", 8], ["japanese", 2], ["korean", 2], ["other", 6]],
  AU: [["anglo", 70], ["chinese", 9], ["japanese", 2], ["korean", 3], ["southAsian", 8], ["other", 8]],
  DE: [["de", 78], ["other", 12], ["anglo", 5], ["southAsian", 5]],
  FR: [["fr", 80], ["other", 12], ["anglo", 4], ["es", 4]],
  NL: [["nl", 75], ["other", 10], ["anglo", 8], ["de", 7]],
  ES: [["es", 82], ["other", 10], ["anglo", 4], ["fr", 4]],
};

const NICKNAMES = {
  Michael: "Mike", Christopher: "Chris", Daniel: "Dan", Matthew: "Matt", Andrew: "Andy", Thomas: "Tom",
  Jessica: "Jess", Katherine: "Kate", Benjamin: "Ben", Samuel: "Sam", Abigail: "Abby", Katharina: "Kathi",
  Maximilian: "Max", Alejandro: "Alex", Nicolas: "Nico", Javier: "Javi", Tobias: "Tobi", Florian: "Flo",
  Elizabeth: "Liz", Natalie: "Nat", Rachel: "Rach", Oliver: "Ollie", Stefan: "Steff",
};

const PERSONAL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "gmx.de", "orange.fr"];

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Seniority band from a job title, in the order the bands outrank each other. */
function seniorityOf(title) {
  const t = String(title || "").toLowerCase();
  if (/vice president|\bs?vp\b|\bevp\b/.test(t)) return "vp";
  if (/\bchief\b|\bceo\b|\bcto\b|\bcfo\b|\bcoo\b|\bcmo\b|\bcro\b|\bcio\b|founder|\bpresident\b/.test(t)) return "c_level";
  if (/director|head of/.test(t)) return "director";
  if (/manager|\blead\b|supervisor/.test(t)) return "manager";
  if (/senior|\bsr\b|principal|\bstaff\b/.test(t)) return "senior";
  return "entry";
}

/** Name to the ASCII slug mail systems use: Müller -> mueller, José -> jose, O'Brien -> obrien. */
function asciiSlug(name) {
  return String(name)
    .replace(/ä/g, "ae").replace(/ö/g, "oe").replace(/ü/g, "ue")
    .replace(/Ä/g, "Ae").replace(/Ö/g, "Oe").replace(/Ü/g, "Ue").replace(/ß/g, "ss")
    .replace(/ı/g, "i")
    .normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
}

function emailLocal(pattern, first, last) {
  const f = asciiSlug(first);
  const l = asciiSlug(last);
  switch (pattern) {
    case "first": return f;
    case "flast": return f[0] + l;
    case "firstl": return f + l[0];
    case "first_last": return `${f}_${l}`;
    default: return `${f}.${l}`;
  }
}

/** A phone number as {country, area, subscriber}; formatPhone renders it. */
function makePhone(rnd, cityInfo) {
  const { country, area } = cityInfo;
  switch (country) {
    case "US":
    case "CA":
      return { country, area, subscriber: "55501" + rnd.digits(2) };
    case "GB":
      // Ofcom drama ranges: 020 7946 0xxx, 0161 496 0xxx, 0117 496 0xxx, 0131 496 0xxx.
      return { country, area, subscriber: (area === "20" ? "79460" : "4960") + rnd.digits(3) };
    case "AU":
      return { country, area, subscriber: "5550" + rnd.digits(4) };
    case "DE":
      return { country, area, subscriber: String(rnd.int(2, 9)) + rnd.digits(area.length === 2 ? 7 : 6) };
    case "FR":
      return { country, area, subscriber: rnd.digits(8) };
    case "NL":
      return { country, area, subscriber: String(rnd.int(2, 9)) + rnd.digits(area.length === 2 ? 6 : 6) };
    case "ES":
      return { country, area, subscriber: rnd.digits(9 - area.length) };
    default:
      throw new Error(`no phone plan for ${country}`);
  }
}

const CALLING_CODES = { US: "1", CA: "1", GB: "44", DE: "49", FR: "33", NL: "31", ES: "34", AU: "61" };

function phoneKey(p) {
  return CALLING_CODES[p.country] + p.area + p.subscriber;
}

function formatPhone(p, style) {
  const cc = CALLING_CODES[p.country];
  const a = p.area;
  const s = p.subscriber;
  switch (p.country) {
    case "US":
    case "CA": {
      const x = s.slice(0, 3), y = s.slice(3);
      return [`+1 ${a}-${x}-${y}`, `(${a}) ${x}-${y}`, `${a}.${x}.${y}`, `${a}${s}`, `+1${a}${s}`, `1-${a}-${x}-${y}`][style % 6];
    }
    case "GB": {
      const head = a === "20" ? s.slice(0, 4) : s.slice(0, 3);
      const tail = s.slice(head.length);
      return [`+44 ${a} ${head} ${tail}`, `0${a} ${head} ${tail}`, `+44 (0)${a} ${head} ${tail}`, `0${a}${s}`, `+44${a}${s}`, `0${a} ${head} ${tail}`][style % 6];
    }
    case "DE":
      return [`+49 ${a} ${s}`, `0${a} ${s}`, `0${a}/${s}`, `+49 (0)${a} ${s.slice(0, 4)} ${s.slice(4)}`, `+49${a}${s}`, `0${a}-${s}`][style % 6];
    case "FR": {
      const national = `0${a}${s}`.match(/.{2}/g);
      const intl = `${a} ${s.match(/.{2}/g).join(" ")}`;
      return [`+33 ${intl}`, national.join(" "), national.join("."), `+33${a}${s}`, `+33 (0)${intl}`, national.join("")][style % 6];
    }
    case "NL":
      return [`+31 ${a} ${s.slice(0, 3)} ${s.slice(3)}`, `0${a}-${s}`, `0${a} ${s.slice(0, 3)} ${s.slice(3)}`, `+31${a}${s}`, `+31 (0)${a} ${s}`, `0${a}${s}`][style % 6];
    case "ES": {
      const n = a + s;
      return [`+34 ${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`, `${n.slice(0, 3)} ${n.slice(3, 5)} ${n.slice(5, 7)} ${n.slice(7)}`, n, `+34${n}`, `0034 ${n}`, `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`][style % 6];
    }
    case "AU":
      return [`+61 ${a} ${s.slice(0, 4)} ${s.slice(4)}`, `(0${a}) ${s.slice(0, 4)} ${s.slice(4)}`, `0${a} ${s.slice(0, 4)} ${s.slice(4)}`, `+61${a}${s}`, `0${a}${s}`, `+61 (0)${a} ${s.slice(0, 4)} ${s.slice(4)}`][style % 6];
    default:
      return `+${cc} ${a} ${s}`;
  }
}

function formatAddress(rnd, cityInfo) {
  const street = rnd.pick(cityInfo.streets);
  const n = rnd.int(1, 250);
  switch (cityInfo.country) {
    case "US":
    case "CA":
    case "AU":
      return rnd.chance(0.3) ? `${n} ${street}, Suite ${rnd.int(1, 30) * 100}` : `${n} ${street}`;
    case "GB":
    case "FR":
      return `${n} ${street}`;
    case "ES":
      return `${street}, ${n}`;
    default: // DE, NL: street before number
      return `${street} ${n}`;
  }
}

function capitalizeWords(s) {
  return s.replace(/(^|[\s-])(\p{L})/gu, (m, sep, ch) => sep + ch.toUpperCase());
}

/** A typo in a name: two adjacent letters swapped, a letter dropped or doubled. */
function typo(rnd, name) {
  if (name.length < 4) return name + name[name.length - 1];
  const i = rnd.int(1, name.length - 2);
  const kind = rnd.int(0, 2);
  if (kind === 0) return name.slice(0, i) + name[i + 1] + name[i] + name.slice(i + 2);
  if (kind === 1) return name.slice(0, i) + name.slice(i + 1);
  return name.slice(0, i) + name[i] + name.slice(i);
}

function mixCase(email) {
  const [local, domain] = email.split("@");
  const parts = local.split(/([._])/).map((p) => (p.length > 1 && /[a-z]/.test(p[0]) ? p[0].toUpperCase() + p.slice(1) : p));
  return `${parts.join("")}@${domain[0].toUpperCase()}${domain.slice(1)}`;
}

function breakEmail(email, variant) {
  const [local, domain] = email.split("@");
  const bare = domain.replace(/\.[a-z.]+$/, "");
  switch (variant % 7) {
    case 0: return `${local}${domain}`; // lost the @
    case 1: return `${local}@@${domain}`;
    case 2: return `${local}@${bare}`; // no TLD
    case 3: return `${local.replace(/[._]/, " ")}@${domain}`;
    case 4: return `${local}@${domain.replace(/\.([a-z]+)$/, ",$1")}`;
    case 5: return local.includes(".") ? `${local.replace(".", "..")}@${domain}` : `.${local}@${domain}`;
    default: return `${local}@${domain}.`;
  }
}

/** Deterministic UUID (RFC 4122 layout, version 5 bits) from a name. */
function nameUuid(name) {
  const h = crypto.createHash("sha1").update(name).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function buildCompanies(rnd) {
  return COMPANY_ROWS.map(([name, domain, industry, hq, employees, emailPattern]) => {
    const stackPool = TECH_BY_INDUSTRY[industry];
    const stack = rnd.shuffle(stackPool).slice(0, rnd.int(3, Math.min(6, stackPool.length)));
    const revenue = Math.round((employees * REVENUE_PER_EMPLOYEE[industry] * (0.7 + rnd.next() * 0.6)) / 100000) * 100000;
    // Bigger companies are more likely to show up in the lists.
    const weight = Math.log10(employees) + 0.5;
    return { name, domain, industry, hq, employees, emailPattern, techStack: stack, revenue, weight };
  });
}

/* ------------------------------------------------------------------------------------------ */
/* Lead generation                                                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * The 400 demo leads for a tenant, as rows for the `leads` table. Pure and deterministic: the same
 * tenant id gives the same rows, field for field.
 */
function generateDemoLeads(tenantId) {
  const rnd = makeRandom(PRNG_SEED);
  const companies = buildCompanies(rnd);
  const companyWeights = companies.map((c) => [c, c.weight]);
  const cityKeys = Object.keys(CITIES);
  const baseCount = LEAD_COUNT - NEAR_DUPLICATE_COUNT;

  const usedPeople = new Set();
  const usedEmails = new Set();
  const usedPhones = new Set();
  const people = [];

  while (people.length < baseCount) {
    const company = rnd.weighted(companyWeights);
    const hq = CITIES[company.hq];
    const cityKey = rnd.chance(0.78) ? company.hq : rnd.pick(cityKeys);
    const cityInfo = CITIES[cityKey];
    const [firsts, lasts] = NAMES[rnd.weighted(CULTURE_BY_COUNTRY[cityInfo.country] || CULTURE_BY_COUNTRY[hq.country])];
    const first = rnd.pick(firsts);
    const last = rnd.pick(lasts);
    const personKey = `${asciiSlug(first)}|${asciiSlug(last)}|${company.domain}`;
    const email = `${emailLocal(company.emailPattern, first, last)}@${company.domain}`;
    if (usedPeople.has(personKey) || usedEmails.has(email)) continue;

    let phone = null;
    for (let attempt = 0; attempt < 20 && !phone; attempt++) {
      const p = makePhone(rnd, cityInfo);
      if (!usedPhones.has(phoneKey(p))) phone = p;
    }
    if (phone) usedPhones.add(phoneKey(phone));
    usedPeople.add(personKey);
    usedEmails.add(email);

    const titleBand = rnd.weighted(TITLES.map(([titles, w]) => [titles, company.employees < 150 ? (titles[0] === "CEO" ? w * 2 : w) : w]));
    people.push({ first, last, company, cityInfo, email, phone, title: rnd.pick(titleBand) });
  }

  // Choose who carries which kind of mess; the sets do not overlap.
  const order = rnd.shuffle(people.map((_, i) => i));
  const duplicated = new Set(order.slice(0, NEAR_DUPLICATE_COUNT));
  const invalid = new Set(order.slice(NEAR_DUPLICATE_COUNT, NEAR_DUPLICATE_COUNT + INVALID_EMAIL_COUNT));
  const missing = new Set(order.slice(NEAR_DUPLICATE_COUNT + INVALID_EMAIL_COUNT, NEAR_DUPLICATE_COUNT + INVALID_EMAIL_COUNT + MISSING_EMAIL_COUNT));

  const rows = [];
  let invalidVariant = 0;
  people.forEach((person, i) => {
    const { first, last, company, cityInfo, phone } = person;
    const source = rnd.weighted([["csv_import", 35], ["hubspot", 25], ["salesforce", 25], ["webinar", 15]]);

    let email = person.email;
    if (missing.has(i)) email = source === "csv_import" && rnd.chance(0.5) ? "" : null;
    else if (invalid.has(i)) email = breakEmail(email, invalidVariant++);
    else if (!duplicated.has(i) && rnd.chance(source === "webinar" ? 0.15 : 0.025)) {
      // A personal mailbox instead of the work address.
      email = `${asciiSlug(first)}${rnd.chance(0.5) ? "." : ""}${asciiSlug(last)}${rnd.chance(0.6) ? rnd.int(1, 99) : ""}@${rnd.pick(PERSONAL_DOMAINS)}`;
    }

    let country = cityInfo.country;
    if (rnd.chance(0.07)) country = rnd.pick(COUNTRY_SPELLINGS[country]);
    let postcode = rnd.pick(cityInfo.postcodes);
    if (cityInfo.country === "US" && postcode.startsWith("0") && source === "csv_import" && rnd.chance(0.6)) {
      postcode = postcode.replace(/^0+/, ""); // a spreadsheet ate the leading zero
    }
    let city = cityInfo.city;
    if (city === "Munich" && rnd.chance(0.3)) city = "München";
    if (city === "New York" && rnd.chance(0.2)) city = rnd.pick(["New York City", "NYC"]);

    const hasPhone = phone && rnd.chance(source === "webinar" ? 0.6 : 0.88);
    const slug = `${asciiSlug(first)}-${asciiSlug(last)}`;
    let linkedin = null;
    if (rnd.chance(source === "webinar" ? 0.7 : 0.88)) {
      linkedin = rnd.chance(0.9)
        ? `https://www.linkedin.com/in/${slug}-${crypto.createHash("sha1").update(slug + company.domain).digest("hex").slice(0, 6)}`
        : `linkedin.com/in/${asciiSlug(first)}${asciiSlug(last)}`;
    }

    let employeeCount = company.employees;
    if (rnd.chance(0.08)) employeeCount = null;
    else if (rnd.chance(0.08)) employeeCount = Math.max(1, Math.round(company.employees * (0.8 + rnd.next() * 0.4)));

    const attributes = {
      lastActivityDays: Math.floor(Math.pow(rnd.next(), 1.8) * 365),
      websiteVisits: Math.floor(Math.pow(rnd.next(), 3) * 80),
    };
    if (rnd.chance(0.9)) attributes.annualRevenueUsd = company.revenue;
    if (rnd.chance(0.92)) attributes.techStack = company.techStack.slice();

    rows.push({
      person: i,
      row: {
        email,
        first_name: first,
        last_name: last,
        title: person.title,
        seniority: seniorityOf(person.title),
        company: company.name,
        domain: company.domain,
        industry: company.industry,
        employee_count: employeeCount,
        phone: hasPhone ? formatPhone(phone, rnd.int(0, 5)) : null,
        address: rnd.chance(0.55) ? formatAddress(rnd, cityInfo) : null,
        city,
        postcode,
        country,
        linkedin_url: linkedin,
        source,
        attributes,
      },
    });
  });

  // Near-duplicates: the same person again, from another system, with the usual drift.
  const byPerson = new Map(rows.map((r) => [r.person, r.row]));
  let dupVariant = 0;
  for (const i of order.slice(0, NEAR_DUPLICATE_COUNT)) {
    const orig = byPerson.get(i);
    const person = people[i];
    const dup = { ...orig, attributes: { ...orig.attributes } };
    const variant = dupVariant++ % 6;
    if (variant === 0) dup.email = mixCase(orig.email);
    if (variant === 1) dup.email = orig.email.replace("@", `+${rnd.pick(["webinar", "news", "crm", "events"])}@`);
    if (variant === 2) dup.first_name = typo(rnd, orig.first_name);
    if (variant === 3) {
      dup.first_name = orig.first_name.toUpperCase();
      dup.last_name = orig.last_name.toUpperCase();
      dup.email = orig.email.toUpperCase();
    }
    if (variant === 4) {
      dup.first_name = NICKNAMES[orig.first_name] || orig.first_name.toLowerCase();
      dup.last_name = NICKNAMES[orig.first_name] ? orig.last_name : orig.last_name.toLowerCase();
    }
    if (variant === 5) {
      dup.last_name = typo(rnd, orig.last_name);
      dup.email = rnd.chance(0.5) ? null : mixCase(orig.email);
    }
    if (rnd.chance(0.35)) dup.first_name = capitalizeWords(dup.first_name.toLowerCase());
    if (rnd.chance(0.4)) dup.company = rnd.pick([`${orig.company} Inc.`, orig.company.toLowerCase(), `${orig.company} Ltd`, orig.company.toUpperCase()]);
    dup.phone = person.phone && rnd.chance(0.75) ? formatPhone(person.phone, rnd.int(0, 5)) : null;
    if (rnd.chance(0.3)) dup.linkedin_url = null;
    if (rnd.chance(0.3)) dup.address = null;
    dup.source = rnd.pick(LEAD_SOURCES.filter((s) => s !== orig.source));
    dup.attributes.lastActivityDays = Math.floor(Math.pow(rnd.next(), 1.8) * 365);
    dup.attributes.websiteVisits = Math.floor(Math.pow(rnd.next(), 3) * 80);
    rows.push({ person: i, row: dup });
  }

  return rnd.shuffle(rows).map(({ row }, n) => ({
    id: nameUuid(`dealscale-demo-lead:${tenantId}:${n}`),
    tenant_id: tenantId,
    ...row,
    attributes: JSON.stringify(row.attributes),
  }));
}

/* ------------------------------------------------------------------------------------------ */
/* Seeding                                                                                    */
/* ------------------------------------------------------------------------------------------ */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Credits (number, decimal string or bigint) to milli-credits as a bigint string, exactly. */
function creditsToMilliString(credits) {
  if (typeof credits === "bigint") {
    if (credits < 0n) throw new RangeError("credits must not be negative");
    return String(credits * 1000n);
  }
  if (typeof credits === "number") {
    if (!Number.isFinite(credits) || credits < 0) throw new RangeError(`credits must be a non-negative number, got ${credits}`);
    const milli = Math.round(credits * 1000);
    if (!Number.isSafeInteger(milli)) throw new RangeError(`credits too large: ${credits}`);
    return String(milli);
  }
  if (typeof credits === "string") {
    const m = /^(\d+)(?:\.(\d{1,3}))?$/.exec(credits.trim());
    if (!m) throw new RangeError(`credits must be a non-negative decimal with at most 3 places, got "${credits}"`);
    return String(BigInt(m[1]) * 1000n + BigInt((m[2] || "").padEnd(3, "0")));
  }
  throw new TypeError("credits is required (number, decimal string or bigint)");
}

/**
 * Seed the demo tenant and its sample leads. Idempotent; safe to run on every start.
 * @returns {Promise<{tenantCreated: boolean, leadsInserted: number}>}
 */
async function seedDemo(knex, { tenantId, tenantName, credits } = {}) {
  if (!UUID_RE.test(String(tenantId || ""))) throw new TypeError(`tenantId must be a UUID, got "${tenantId}"`);
  const name = String(tenantName || "").trim();
  if (!name || name.length > 200) throw new TypeError("tenantName must be 1 to 200 characters");
  const creditsMilli = creditsToMilliString(credits);

  return knex.transaction(async (trx) => {
    await trx.raw("select set_config('app.current_tenant', ?, true)", [tenantId]);
    // Two seeders racing for the same tenant: the second waits, then finds the work done.
    await trx.raw("select pg_advisory_xact_lock(7312, hashtext(?))", [tenantId]);

    const inserted = await trx.raw(
      "insert into tenants (id, name, credits_balance_milli) values (?, ?, ?) on conflict (id) do nothing returning id",
      [tenantId, name, creditsMilli],
    );
    const tenantCreated = inserted.rows.length === 1;
    if (tenantCreated) {
      await trx("credit_ledger").insert({
        tenant_id: tenantId,
        kind: "grant",
        amount_milli: creditsMilli,
        note: "demo seed: initial credit grant",
      });
    }

    const existing = await trx("leads").where("tenant_id", tenantId).first("id");
    let leadsInserted = 0;
    if (!existing) {
      const rows = generateDemoLeads(tenantId);
      for (let i = 0; i < rows.length; i += BATCH_SIZE) {
        const batch = rows.slice(i, i + BATCH_SIZE);
        await trx("leads").insert(batch);
        leadsInserted += batch.length;
      }
    }
    return { tenantCreated, leadsInserted };
  });
}

/** Entry point for `knex seed:run` (see db/knexfile.js): the demo tenant from the environment. */
async function seed(knex) {
  const result = await seedDemo(knex, {
    tenantId: process.env.DEMO_TENANT_ID || "d5a1e000-0000-4000-8000-000000000001",
    tenantName: process.env.DEMO_TENANT_NAME || "DealScale Demo",
    credits: process.env.DEMO_CREDITS || "100000",
  });
  console.log(`demo seed: tenant ${result.tenantCreated ? "created" : "already present"}, ${result.leadsInserted} leads inserted`);
}

module.exports = { seedDemo, seed, generateDemoLeads, seniorityOf, mulberry32 };
