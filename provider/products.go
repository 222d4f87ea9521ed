package provider

// Family is a group of third-party products that share the same optional detail fields.
type Family string

// The product families of !modifyThirdPartyDetails.
const (
	FamilyCodeGuard      Family = "CodeGuard"
	FamilyHackerGuardian Family = "HackerGuardian"
	FamilyWeb            Family = "Web"
	FamilySiteLock       Family = "SiteLock"
)

// products maps every product code the provider documents to its family.
var products = map[int]Family{
	700: FamilyCodeGuard, 701: FamilyCodeGuard, 702: FamilyCodeGuard, 703: FamilyCodeGuard,

	341: FamilyHackerGuardian, 586: FamilyHackerGuardian, 346: FamilyHackerGuardian,
	349: FamilyHackerGuardian, 357: FamilyHackerGuardian,

	1000: FamilyWeb, 1001: FamilyWeb, 1002: FamilyWeb, 1003: FamilyWeb, 1004: FamilyWeb,
	1005: FamilyWeb, 1006: FamilyWeb, 1007: FamilyWeb, 1008: FamilyWeb, 1009: FamilyWeb,

	// SiteLock main licences, then add-ons (cancelling a main licence cancels its add-ons).
	1059: FamilySiteLock, 1060: FamilySiteLock, 1061: FamilySiteLock, 1062: FamilySiteLock,
	1068: FamilySiteLock, 1069: FamilySiteLock, 1070: FamilySiteLock, 1071: FamilySiteLock,
}

// ProductFamily returns the family of a product code, and false for a code the provider does
// not document.
func ProductFamily(product int) (Family, bool) {
	f, ok := products[product]
	return f, ok
}
